// Package placeholder resolves the {placeholders} of config values: the
// one resolver of every field of scgate's modules that takes them (secrets,
// the Redis settings, snapshot and outbox paths, the namespace). Caddy's
// lax replacement keeps an unknown placeholder as literal text, so a typo
// such as {evn.REDIS_PW} would be sent to Redis as the password, or name a
// file "{evn.SNAP}"; here it is an error, as is a placeholder that resolves
// to nothing. Errors read after the field's name ("dedupe redis password
// has an unknown placeholder {evn.REDIS_PW} …") and never quote a value.
package placeholder

import (
	"errors"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// Resolve returns s with its placeholders resolved. It refuses:
//   - an unmatched or empty brace ("{env.X", "abc}", "a{}b"): Caddy's
//     replacer would keep it as literal text;
//   - an unknown placeholder ("{evn.X}"): it would stay as literal text too;
//   - a placeholder that allow refuses (nil allows every known one);
//   - a placeholder that resolves empty (an unset variable, a missing or
//     empty file), even as part of the value.
//
// A literal brace is written \{ or \}. A value without placeholders is
// returned as it is (unescaped).
func Resolve(s string, allow func(key string) error) (string, error) {
	keys, err := Keys(s)
	if err != nil {
		return "", err
	}
	repl := caddy.NewReplacer()
	for _, key := range keys {
		v, ok := repl.Get(key)
		if !ok {
			return "", unknown(key)
		}
		if allow != nil {
			if err := allow(key); err != nil {
				return "", err
			}
		}
		if caddy.ToString(v) == "" {
			return "", empty(key)
		}
	}
	v, err := repl.ReplaceOrErr(s, true, true)
	if err != nil {
		// Checked above; a replacer that disagrees must not pass.
		return "", errors.New("has placeholders that could not be resolved")
	}
	return v, nil
}

// Keys returns the keys of the {placeholders} of s, or an error for a
// brace that is neither escaped (\{, \}) nor part of a placeholder.
func Keys(s string) ([]string, error) {
	var keys []string
	open := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c == '{' || c == '}') && i > 0 && s[i-1] == '\\' {
			continue // an escaped brace is literal text
		}
		switch c {
		case '{':
			if open >= 0 {
				return nil, errUnmatched
			}
			open = i
		case '}':
			if open < 0 || i == open+1 {
				return nil, errUnmatched
			}
			keys = append(keys, s[open+1:i])
			open = -1
		}
	}
	if open >= 0 {
		return nil, errUnmatched
	}
	return keys, nil
}

var errUnmatched = errors.New("has an unmatched brace (write a literal brace as \\{ or \\})")

// unknown is the error of an unknown placeholder. It is quoted only when it
// has the shape of a placeholder (a dotted name such as {evn.NAME}); other
// text between braces may be part of a literal secret or password.
func unknown(key string) error {
	if strings.Contains(key, ".") && !strings.ContainsAny(key, " \t") {
		return fmt.Errorf("has an unknown placeholder {%s} (a typo? use {env.NAME} or {file./path}; write a literal brace as \\{)", key)
	}
	return errors.New("has an unknown placeholder (not shown: it may be part of the value; write a literal brace as \\{)")
}

// empty is the error of a placeholder that resolved to nothing, naming the
// variable or file.
func empty(key string) error {
	switch {
	case strings.HasPrefix(key, "env."):
		return fmt.Errorf("is empty: environment variable %s is unset or empty", strings.TrimPrefix(key, "env."))
	case strings.HasPrefix(key, "file."):
		return fmt.Errorf("is empty: file %s is missing, unreadable or empty", strings.TrimPrefix(key, "file."))
	}
	return fmt.Errorf("is empty: placeholder {%s} resolved to nothing", key)
}

// Field resolves the value of the config field name (as the error's
// subject: "dedupe redis password has an unknown placeholder …"). An empty
// value stays empty: the field is unset.
func Field(name, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	r, err := Resolve(v, nil)
	if err != nil {
		return "", fmt.Errorf("%s %w", name, err)
	}
	return r, nil
}
