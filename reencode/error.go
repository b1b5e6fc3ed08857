package reencode

import "github.com/scgate/scgate/strictjson"

// Error is a refusal with a stable, machine-readable reason code. Append
// returns one when the body is not JSON the gateway can re-encode (the
// grammar's refusals, shared with the gateway's parser), or when the
// runtime of the style would itself fail on it.
type Error = strictjson.Error

// The refusals. Each is a distinct value so callers can compare with ==.
var (
	// ErrUnknownStyle: Append was called with a Style that is not JS, Python or PHP.
	ErrUnknownStyle = strictjson.NewError("unknown_style", "reencode: unknown style")
	// ErrInvalidJSON: the body is not one JSON value (RFC 8259).
	ErrInvalidJSON = strictjson.ErrInvalidJSON
	// ErrInvalidUTF8: the body holds bytes that are not UTF-8. PHP and
	// Python refuse them; Node.js would replace them with U+FFFD, which
	// changes the event, so the gateway refuses them for every style.
	ErrInvalidUTF8 = strictjson.ErrInvalidUTF8
	// ErrTooDeep: arrays and objects nest deeper than MaxDepth (PHP: than
	// MaxDepthPHP, where json_decode fails).
	ErrTooDeep = strictjson.ErrTooDeep
	// ErrLoneSurrogate (PHP): a \u escape of a UTF-16 surrogate that is not
	// part of a pair; json_decode fails with JSON_ERROR_UTF16.
	ErrLoneSurrogate = strictjson.NewError("lone_surrogate", "reencode: body has a lone UTF-16 surrogate escape, which PHP's json_decode refuses")
	// ErrKeyStartsWithNUL (PHP): an object key whose first character is
	// U+0000; json_decode fails with JSON_ERROR_INVALID_PROPERTY_NAME.
	ErrKeyStartsWithNUL = strictjson.NewError("key_starts_with_nul", "reencode: body has an object key starting with U+0000, which PHP's json_decode refuses")
	// ErrNumberOutOfRange (PHP): a number beyond the float64 range (such as
	// 1e400) decodes to INF, which json_encode refuses.
	ErrNumberOutOfRange = strictjson.NewError("number_out_of_range", "reencode: body has a number beyond the float64 range, which PHP's json_encode refuses")
	// ErrIntegerTooLong (Python): an integer of more than 4300 digits, which
	// json.loads refuses (CPython 3.11 and later).
	ErrIntegerTooLong = strictjson.NewError("integer_too_long", "reencode: body has an integer of more than 4300 digits, which Python's json.loads refuses")
)
