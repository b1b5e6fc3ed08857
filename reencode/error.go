package reencode

// Error is a refusal with a stable, machine-readable reason code. Append
// returns one when the body is not JSON the gateway can re-encode, or when
// the runtime of the style would itself fail on it.
type Error struct {
	// Reason is a short snake_case code suitable for logs and metrics.
	Reason string
	msg    string
}

func (e *Error) Error() string { return "reencode: " + e.msg }

// The refusals. Each is a distinct value so callers can compare with ==.
var (
	// ErrUnknownStyle: Append was called with a Style that is not JS, Python or PHP.
	ErrUnknownStyle = &Error{"unknown_style", "unknown style"}
	// ErrInvalidJSON: the body is not one JSON value (RFC 8259).
	ErrInvalidJSON = &Error{"invalid_json", "body is not valid JSON"}
	// ErrInvalidUTF8: a string holds bytes that are not UTF-8. PHP and Python
	// refuse them; Node.js would replace them with U+FFFD, which changes the
	// event, so the gateway refuses them for every style.
	ErrInvalidUTF8 = &Error{"invalid_utf8", "body is not valid UTF-8"}
	// ErrTooDeep: arrays and objects nest deeper than MaxDepth (PHP: deeper
	// than MaxDepthPHP, where json_decode fails).
	ErrTooDeep = &Error{"too_deep", "body nests deeper than the runtime or the gateway allows"}
	// ErrLoneSurrogate (PHP): a \u escape of a UTF-16 surrogate that is not
	// part of a pair; json_decode fails with JSON_ERROR_UTF16.
	ErrLoneSurrogate = &Error{"lone_surrogate", "body has a lone UTF-16 surrogate escape, which PHP's json_decode refuses"}
	// ErrKeyStartsWithNUL (PHP): an object key whose first character is
	// U+0000; json_decode fails with JSON_ERROR_INVALID_PROPERTY_NAME.
	ErrKeyStartsWithNUL = &Error{"key_starts_with_nul", "body has an object key starting with U+0000, which PHP's json_decode refuses"}
	// ErrNumberOutOfRange (PHP): a number beyond the float64 range (such as
	// 1e400) decodes to INF, which json_encode refuses.
	ErrNumberOutOfRange = &Error{"number_out_of_range", "body has a number beyond the float64 range, which PHP's json_encode refuses"}
	// ErrIntegerTooLong (Python): an integer of more than 4300 digits, which
	// json.loads refuses (CPython 3.11 and later).
	ErrIntegerTooLong = &Error{"integer_too_long", "body has an integer of more than 4300 digits, which Python's json.loads refuses"}
)
