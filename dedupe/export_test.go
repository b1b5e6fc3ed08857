package dedupe

// ForceScripts makes s claim with the Lua script, as it does against a
// server older than Redis 7.0.
func ForceScripts(s *RedisStore) { s.c.scriptsOnly.Store(true) }
