package reencode

import (
	"math"
	"strconv"
	"unsafe"
)

// number re-encodes the number at the scanner's position. Integers are kept
// as written where the runtime keeps them exactly; everything else goes
// through float64 and the runtime's float formatting.
func (e *encoder) number() error {
	start, end, integer, err := e.s.Number()
	if err != nil {
		return err
	}
	tok := e.in[start:end]
	digitsStart := start
	if tok[0] == '-' {
		digitsStart++
	}
	digits := end - digitsStart // of an integer
	negativeZero := integer && len(tok) == 2 && tok[0] == '-' && tok[1] == '0'

	switch e.style {
	case JS:
		// Integers of up to 15 digits are exact in a float64 and printed
		// back as written.
		if integer && digits <= 15 {
			e.out = appendInteger(e.out, tok, negativeZero)
			return nil
		}
		e.out = appendJSNumber(e.out, parseFloat(tok))
	case Python:
		if integer {
			// CPython 3.11+ refuses to convert longer digit strings
			// (sys.get_int_max_str_digits() == 4300).
			if digits > 4300 {
				return ErrIntegerTooLong
			}
			e.out = appendInteger(e.out, tok, negativeZero)
			return nil
		}
		e.out = appendPythonFloat(e.out, parseFloat(tok))
	case PHP:
		if integer && phpInt64(tok[digitsStart-start:], digitsStart > start) {
			e.out = appendInteger(e.out, tok, negativeZero)
			return nil
		}
		f := parseFloat(tok)
		if math.IsInf(f, 0) {
			// json_decode reads INF and json_encode fails on it, unless
			// a later member with the same key replaced it. Write a
			// placeholder (PHP's output is otherwise ASCII) and decide
			// at the end: see infPlaceholder.
			e.out = append(e.out, infPlaceholder)
			e.infs++
			return nil
		}
		e.out = appendPHPFloat(e.out, f)
	}
	return nil
}

// appendInteger writes an integer kept exactly: as written, except that the
// integer -0 is 0 in every runtime.
func appendInteger(out, tok []byte, negativeZero bool) []byte {
	if negativeZero {
		return append(out, '0')
	}
	return append(out, tok...)
}

// phpInt64 reports whether PHP's json scanner reads the integer digits as
// an int (PHP_JSON_INT_MAX_LENGTH digits at most, and within int64); it reads
// larger ones as floats.
func phpInt64(digits []byte, negative bool) bool {
	const minInt64Digits = "9223372036854775808"
	switch {
	case len(digits) < len(minInt64Digits):
		return true
	case len(digits) > len(minInt64Digits):
		return false
	}
	cmp := string(digits)
	return cmp < minInt64Digits || (cmp == minInt64Digits && negative)
}

// parseFloat returns the float64 nearest to a valid JSON number, ±Inf beyond
// the range (as all three runtimes do).
func parseFloat(tok []byte) float64 {
	// strconv.ParseFloat does not keep its argument (errors hold a copy), so
	// viewing tok as a string avoids copying numbers longer than the
	// compiler's 32-byte stack buffer.
	f, _ := strconv.ParseFloat(unsafe.String(unsafe.SliceData(tok), len(tok)), 64)
	return f
}

// shortest returns the shortest digits d1…dk that read back as f (finite,
// positive) and the decimal exponent n with f = 0.d1…dk × 10^n. Among
// equally short candidates it picks the nearest, as ECMAScript's
// Number::toString, Python's repr and PHP's zend_dtoa mode 0 do.
func shortest(buf *[32]byte, f float64) (digits []byte, n int) {
	s := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // d[.ddd]e±xx
	e := len(s) - 4
	for s[e] != 'e' {
		e--
	}
	exp := 0
	for _, c := range s[e+2:] {
		exp = exp*10 + int(c-'0')
	}
	if s[e+1] == '-' {
		exp = -exp
	}
	if e == 1 {
		return s[:1], exp + 1
	}
	copy(s[1:], s[2:e])
	return s[:e-1], exp + 1
}

// appendJSNumber writes f as JSON.stringify does: ECMAScript
// Number::toString for finite values, null for the infinities.
func appendJSNumber(out []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 0):
		return append(out, "null"...)
	case f == 0:
		return append(out, '0') // -0 too
	}
	return jsFloat.append(out, f)
}

// appendPythonFloat writes f as Python's float.__repr__ (json.dumps writes
// the infinities as Infinity and -Infinity).
func appendPythonFloat(out []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(out, "Infinity"...)
	case math.IsInf(f, -1):
		return append(out, "-Infinity"...)
	case f == 0 && math.Signbit(f):
		return append(out, "-0.0"...)
	case f == 0:
		return append(out, "0.0"...)
	}
	return pythonFloat.append(out, f)
}

// appendPHPFloat writes a finite f as json_encode does with
// serialize_precision -1: php_gcvt with 17 digits of precision in mode 0,
// and no ".0" for integral values (JSON_PRESERVE_ZERO_FRACTION is off).
//
// The one exception is -0.0: json_encode writes "-0", which json_decode reads
// as the integer 0, so a handler re-encoding the forwarded body would get "0"
// and its check would fail. Append writes "0", the fixed point that handler
// reaches (it sees 0 either way).
func appendPHPFloat(out []byte, f float64) []byte {
	if f == 0 {
		return append(out, '0')
	}
	return phpFloat.append(out, f)
}

// floatFormat is how a runtime writes a finite, non-zero float64 from its
// shortest digits d1…dk and decimal exponent n (f = 0.d1…dk × 10^n): in
// fixed notation when minN < n <= maxN, else as d1[.d2…dk]e±x.
type floatFormat struct {
	minN, maxN int
	// integralSuffix follows an integral value in fixed notation.
	integralSuffix string
	// expDigits is the least number of exponent digits.
	expDigits int
	// zeroFraction writes a single-digit mantissa as "d.0".
	zeroFraction bool
}

var (
	jsFloat     = floatFormat{minN: -6, maxN: 21, expDigits: 1}
	pythonFloat = floatFormat{minN: -4, maxN: 16, integralSuffix: ".0", expDigits: 2}
	phpFloat    = floatFormat{minN: -4, maxN: 17, expDigits: 1, zeroFraction: true}
)

func (ff floatFormat) append(out []byte, f float64) []byte {
	if f < 0 {
		out = append(out, '-')
		f = -f
	}
	var buf [32]byte
	d, n := shortest(&buf, f)
	k := len(d)
	switch {
	case n <= ff.minN || n > ff.maxN:
		return appendExponent(appendMantissa(out, d, ff.zeroFraction), n-1, ff.expDigits)
	case n <= 0:
		return append(appendZeros(append(out, '0', '.'), -n), d...)
	case n >= k:
		return append(appendZeros(append(out, d...), n-k), ff.integralSuffix...)
	}
	return append(append(append(out, d[:n]...), '.'), d[n:]...)
}

// appendMantissa writes d1[.d2…dk]; PHP writes "d1.0" for a single digit.
func appendMantissa(out, d []byte, zeroFraction bool) []byte {
	out = append(out, d[0])
	switch {
	case len(d) > 1:
		out = append(append(out, '.'), d[1:]...)
	case zeroFraction:
		out = append(out, '.', '0')
	}
	return out
}

// appendExponent writes e±x with at least minDigits digits.
func appendExponent(out []byte, exp, minDigits int) []byte {
	out = append(out, 'e', '+')
	if exp < 0 {
		out[len(out)-1] = '-'
		exp = -exp
	}
	if exp < 10 && minDigits == 2 {
		out = append(out, '0')
	}
	return strconv.AppendInt(out, int64(exp), 10)
}

func appendZeros(out []byte, n int) []byte {
	for ; n > 0; n-- {
		out = append(out, '0')
	}
	return out
}
