package screenshotcenterwebhook

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/scgate/scgate/dedupe"
)

// resolveRedisOptions resolves the placeholders of d's settings into the
// store's options.
func resolveRedisOptions(d *RedisConfig, repl *caddy.Replacer, logger *zap.Logger) dedupe.RedisOptions {
	o := dedupe.RedisOptions{
		URL:        strings.TrimSpace(repl.ReplaceKnown(d.URL, "")),
		MasterName: d.MasterName,
		Username:   repl.ReplaceKnown(d.Username, ""),
		Password:   repl.ReplaceKnown(d.Password, ""),
		TLS:        d.TLS,
		KeyPrefix:  d.KeyPrefix,
		Timeout:    time.Duration(d.Timeout),
		Logger:     logger,
	}
	for _, a := range d.Addresses {
		o.Addrs = append(o.Addrs, repl.ReplaceKnown(a, ""))
	}
	return o
}

// redisPoolKey names the store of these settings in the stores pool: one
// store (one client, one cache of done keys, one breaker) per server, key
// prefix and timeout. It is a digest, so the password is not kept in a map
// key.
func redisPoolKey(o dedupe.RedisOptions) string {
	h := sha256.New()
	for _, s := range append([]string{o.URL, o.MasterName, o.Username, o.Password,
		strconv.FormatBool(o.TLS), o.KeyPrefix, o.Timeout.String()}, o.Addrs...) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return "redis:" + hex.EncodeToString(h.Sum(nil))
}
