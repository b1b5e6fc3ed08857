// Package secret resolves the signing secrets written in a config, for both
// Caddy modules of scgate and their command-line tools. A secret is written
// as a placeholder such as {env.NAME} or {file./path} so that its value
// stays out of the JSON config; anything that would silently turn it into a
// different, guessable value (a typo in a placeholder, an unset variable, an
// unmatched brace, a placeholder such as {system.os}, a short or blank
// value) is an error that names what to fix and never quotes the value.
package secret

import (
	"errors"
	"fmt"
	"strings"

	"github.com/scgate/scgate/caddymodule/internal/placeholder"
	"github.com/scgate/scgate/scheme"
)

// MinLength is the length, in bytes, below which a shared secret is
// refused: a short secret can be guessed offline from one captured signed
// event (scheme.MinSecretLength, the one rule).
const MinLength = scheme.MinSecretLength

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
	v, err := ResolveValue(s)
	if err != nil {
		return nil, err
	}
	if err := Check(v); err != nil {
		return nil, err
	}
	return v, nil
}

// ResolveValue is Resolve without Check: it resolves the placeholders the
// same strict way and refuses an empty value, and leaves the value's
// format to the caller (the receiver's scheme checks it: a shared secret
// with CheckSharedSecret, a public key or a whsec_ secret by its own
// rules).
func ResolveValue(s string) ([]byte, error) {
	v, err := placeholder.Resolve(s, onlyEnvAndFile)
	if err != nil {
		return nil, err
	}
	if v == "" {
		return nil, errors.New("is empty")
	}
	return []byte(v), nil
}

// onlyEnvAndFile refuses the placeholders whose values anyone can guess.
func onlyEnvAndFile(key string) error {
	if !strings.HasPrefix(key, "env.") && !strings.HasPrefix(key, "file.") {
		return fmt.Errorf("has the placeholder {%s}, whose value anyone can guess: a secret may come only from {env.NAME}, {file./path} or literal text", key)
	}
	return nil
}

// Check refuses a secret value that is empty, only whitespace, or shorter
// than MinLength bytes. Its errors say why, never the value or its length,
// and read after the name of the secret ("secret 0 is shorter than…").
func Check(v []byte) error { return scheme.CheckSharedSecret(v) }

// IsLiteral reports whether s has no placeholder: its value is written into
// the config itself (literally, or substituted by {$NAME} when the
// Caddyfile was adapted), so it shows in GET /config/ and autosave.json.
func IsLiteral(s string) bool {
	keys, err := placeholder.Keys(s)
	return err == nil && len(keys) == 0
}

// Advice is what a warning about a literal secret should tell the operator.
const Advice = "write it as {env.NAME} or {file./path}: a literal secret, or one written {$NAME}, is stored in the JSON config (GET /config/, autosave.json)"
