// Package strictjson is scgate's one JSON grammar: RFC 8259 text that is
// UTF-8 (section 8.1), with arrays and objects nested at most MaxDepth deep,
// and, where a reader must not be misled (Validate, Members), no object
// that repeats a key and no key with a lone surrogate escape: JSON
// libraries read those differently, so the gateway and the application
// behind it could see different events in the same bytes.
//
// It knows no field names and no output format: the ScreenshotCenter
// fields (webhook.Parse) are read on top of Members, and the re-encoders
// (reencode) walk the text with the Scanner's primitives, so every layer
// refuses the same texts with the same errors. It makes one pass and does
// not allocate for objects of up to 32 members. It does not import Caddy.
package strictjson

// MaxDepth bounds the nesting of arrays and objects, empty ones included, so
// that a hostile body cannot exhaust the stack: [[]] nests 2 deep.
// encoding/json allows 10000; no webhook payload comes close to this.
const MaxDepth = 512

// Error is a refusal of a body's content with a stable, machine-readable
// reason code. The grammar's refusals are the Err values below; the layers
// on top of it (a provider's fields, a re-encoder's runtime limits) make
// theirs with NewError, so every refusal of a body's content has this one
// type.
type Error struct {
	// Reason is a short snake_case code suitable for logs and metrics.
	Reason string
	msg    string
}

func (e *Error) Error() string { return e.msg }

// NewError returns a refusal with the given reason code and message, for
// a layer on top of the grammar. Make each once, as a package variable, so
// that callers can compare with ==.
func NewError(reason, msg string) *Error { return &Error{Reason: reason, msg: msg} }

// The grammar's refusals. Each is a distinct value so callers can compare
// with ==. The receiver answers them with its own reason codes (the gateway
// package's table), such as body_invalid_json for ErrInvalidJSON.
var (
	// ErrInvalidJSON: the text is not one JSON value (RFC 8259).
	ErrInvalidJSON = &Error{"invalid_json", "body is not valid JSON"}
	// ErrInvalidUTF8: the text holds bytes that are not UTF-8. It is checked
	// first, over the whole text.
	ErrInvalidUTF8 = &Error{"invalid_utf8", "body is not valid UTF-8 (RFC 8259 section 8.1)"}
	// ErrTooDeep: arrays and objects nest deeper than MaxDepth.
	ErrTooDeep = &Error{"too_deep", "body nests deeper than allowed"}
	// ErrNotObject: Members was given a valid JSON value that is not an
	// object.
	ErrNotObject = &Error{"not_object", "body is not a JSON object"}
	// ErrDuplicateKey (Validate, Members): an object repeats a key, also
	// when only the escaping differs.
	ErrDuplicateKey = &Error{"duplicate_key", "an object in the body repeats a key"}
	// ErrAmbiguousKey (Validate, Members): a key holds a lone surrogate
	// escape, which libraries decode differently. A layer that reads fields
	// returns it too for a key that differs only in case or by escaping
	// from one it reads (Go's encoding/json matches those, JavaScript does
	// not).
	ErrAmbiguousKey = &Error{"ambiguous_key", "body has a key that JSON libraries read differently: a top-level key that differs only in case (or by escaping) from one the gateway reads, or a key with a lone surrogate escape"}
)
