// Package secret resolves the signing secrets written in a config, for both
// Caddy modules of scgate and their command-line tools. A secret is written
// as a placeholder such as {env.NAME} or {file./path} so that its value
// stays out of the JSON config; anything that would silently turn it into a
// different, guessable value (a typo in a placeholder, an unset variable, an
// unmatched brace, a placeholder such as {system.os}, a short or blank
// value) is an error that names what to fix and never quotes the value.
package secret

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// MinLength is the length, in bytes, below which a secret is refused: a
// short secret can be guessed offline from one captured signed event.
const MinLength = 16

// Resolve returns the value of the configured secret s with its
// placeholders resolved. It refuses:
//   - an unmatched or empty brace ("{env.X", "abc}", "a{}b"): Caddy's
//     replacer would keep it as literal text;
//   - an unknown placeholder ("{evn.X}"): it would stay as literal text too;
//   - any placeholder but {env.*} and {file.*}: the others ({system.os},
//     {time.now.year}, {system.hostname}…) give values anyone can guess;
//   - a placeholder that resolves empty (an unset variable, a missing or
//     empty file), even as part of the secret;
//   - a resolved secret that Check refuses (empty, only whitespace, shorter
//     than MinLength).
//
// A literal brace is written \{ or \}. Errors name the variable or file to
// fix, never a value.
func Resolve(s string) ([]byte, error) {
	keys, err := placeholders(s)
	if err != nil {
		return nil, err
	}
	repl := caddy.NewReplacer()
	for _, key := range keys {
		v, ok := repl.Get(key)
		if !ok {
			return nil, unknown(key)
		}
		if !strings.HasPrefix(key, "env.") && !strings.HasPrefix(key, "file.") {
			return nil, fmt.Errorf("has the placeholder {%s}, whose value anyone can guess: a secret may come only from {env.NAME}, {file./path} or literal text", key)
		}
		if caddy.ToString(v) == "" {
			return nil, empty(key)
		}
	}
	v, err := repl.ReplaceOrErr(s, true, true)
	if err != nil {
		// Checked above; a replacer that disagrees must not open the gate.
		return nil, errors.New("placeholders could not be resolved")
	}
	if err := Check([]byte(v)); err != nil {
		return nil, err
	}
	return []byte(v), nil
}

// Check refuses a secret value that is empty, only whitespace, or shorter
// than MinLength bytes. Its errors say why, never the value or its length,
// and read after the name of the secret ("secret 0 is shorter than…").
func Check(v []byte) error {
	switch {
	case len(v) == 0:
		return errors.New("is empty")
	case len(bytes.TrimSpace(v)) == 0:
		return errors.New("is only whitespace: use a long random secret, e.g. from openssl rand -hex 32")
	case len(v) < MinLength:
		return fmt.Errorf("is shorter than %d bytes: use a long random secret, e.g. from openssl rand -hex 32", MinLength)
	}
	return nil
}

// IsLiteral reports whether s has no placeholder: its value is written into
// the config itself (literally, or substituted by {$NAME} when the
// Caddyfile was adapted), so it shows in GET /config/ and autosave.json.
func IsLiteral(s string) bool {
	keys, err := placeholders(s)
	return err == nil && len(keys) == 0
}

// Advice is what a warning about a literal secret should tell the operator.
const Advice = "write it as {env.NAME} or {file./path}: a literal secret, or one written {$NAME}, is stored in the JSON config (GET /config/, autosave.json)"

// placeholders returns the keys of the {placeholders} of s, or an error for
// a brace that is neither escaped (\{, \}) nor part of a placeholder.
func placeholders(s string) ([]string, error) {
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
// text between braces may be part of a literal secret.
func unknown(key string) error {
	if strings.Contains(key, ".") && !strings.ContainsAny(key, " \t") {
		return fmt.Errorf("has an unknown placeholder {%s} (a typo? use {env.NAME} or {file./path}; write a literal brace as \\{)", key)
	}
	return errors.New("has an unknown placeholder (not shown: it may be part of the secret; write a literal brace as \\{)")
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
