package reencode

import (
	"bytes"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// defect is the one kind of trouble a generated body may carry, so that the
// reason a runtime reports is unambiguous.
type defect int

const (
	defectNone          defect = iota
	defectLoneSurrogate        // PHP refuses
	defectNULKey               // PHP refuses
	defectOutOfRange           // PHP refuses; JS writes null, Python Infinity
	defectLongInteger          // Python refuses
	defectInvalidUTF8          // PHP and Python refuse; Node would repair it
	defectTruncated            // not JSON
	defectDeep                 // deeper than some style allows
)

// bodyGen makes random JSON bodies from a deterministic seed: pretty-printed
// or compact, with unicode, escapes, surrogates, numbers of every shape,
// nesting, empty containers, repeated and array-index keys.
type bodyGen struct {
	r      *rand.Rand
	b      []byte
	pretty bool
	defect defect
}

func newBodyGen(seed uint64) *bodyGen {
	return &bodyGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// body returns a new body (mostly an object) and the defect it carries.
func (g *bodyGen) body() ([]byte, defect) {
	g.b = g.b[:0]
	g.pretty = g.r.IntN(2) == 0
	g.defect = defectNone
	if g.r.IntN(4) == 0 {
		g.defect = defect(1 + g.r.IntN(int(defectDeep)))
	}
	g.ws()
	switch {
	case g.defect == defectDeep:
		g.deep()
	case g.defect == defectNone && g.r.IntN(20) == 0:
		g.value(2)
	default:
		g.object(0)
	}
	g.ws()
	switch g.defect {
	case defectTruncated:
		g.b = g.b[:g.r.IntN(len(g.b))]
	case defectInvalidUTF8:
		// Bad bytes just before the closing quote of the last string.
		if i := bytes.LastIndexByte(g.b, '"'); i > 0 {
			bad := [][]byte{{0xff}, {0xc0, 0x80}, {0xed, 0xa0, 0x80}, {0xe2, 0x82}, {0xf4, 0x90, 0x80, 0x80}}[g.r.IntN(5)]
			g.b = slices.Insert(g.b, i, bad...)
		}
	case defectLoneSurrogate, defectNULKey, defectOutOfRange, defectLongInteger:
		// A member carrying the defect first in the top-level object (the
		// random ones may carry it too).
		i := bytes.IndexByte(g.b, '{') + 1
		m := g.defectMember()
		if bytes.TrimLeft(g.b[i:], " \t\r\n")[0] != '}' {
			m = append(m, ',')
		}
		g.b = slices.Insert(g.b, i, m...)
	}
	return bytes.Clone(g.b), g.defect
}

// defectMember returns a member that carries the body's defect.
func (g *bodyGen) defectMember() []byte {
	switch g.defect {
	case defectLoneSurrogate:
		return []byte(`"lone":"x\uD83Dy"`)
	case defectNULKey:
		return []byte(`"\u0000k":1`)
	case defectOutOfRange:
		return []byte(`"big":-1e400`)
	}
	return []byte(`"long":9` + strings.Repeat("0", 4300))
}

// deep nests arrays and objects around a small value to a depth near the
// limits (PHP 511, the others 512).
func (g *bodyGen) deep() {
	depth := 509 + g.r.IntN(6)
	closers := make([]byte, 0, depth)
	for i := 0; i < depth; i++ {
		if g.r.IntN(2) == 0 {
			g.b = append(g.b, '[')
			closers = append(closers, ']')
		} else {
			g.b = append(g.b, `{"k":`...)
			closers = append(closers, '}')
		}
	}
	if g.r.IntN(2) == 0 {
		g.number()
	} else if closers[len(closers)-1] == ']' {
		// the innermost array stays empty
	} else {
		g.str(false)
	}
	for i := len(closers) - 1; i >= 0; i-- {
		g.b = append(g.b, closers[i])
	}
}

func (g *bodyGen) ws() {
	if !g.pretty {
		return
	}
	for n := g.r.IntN(4); n > 0; n-- {
		g.b = append(g.b, " \t\n\r  \n"[g.r.IntN(7)])
	}
}

func (g *bodyGen) value(depth int) {
	switch k := g.r.IntN(16); {
	case depth < 5 && k < 2:
		g.object(depth + 1)
	case depth < 5 && k < 4:
		g.array(depth + 1)
	case k < 9:
		g.str(false)
	case k < 14:
		g.number()
	default:
		g.b = append(g.b, []string{"true", "false", "null"}[g.r.IntN(3)]...)
	}
}

func (g *bodyGen) object(depth int) {
	g.b = append(g.b, '{')
	n := g.r.IntN(7)
	if g.r.IntN(12) == 0 {
		n = 17 + g.r.IntN(30) // past the pairwise key comparison
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			g.b = append(g.b, ',')
		}
		g.ws()
		g.key()
		g.ws()
		g.b = append(g.b, ':')
		g.ws()
		g.value(depth)
		g.ws()
	}
	g.b = append(g.b, '}')
}

func (g *bodyGen) array(depth int) {
	g.b = append(g.b, '[')
	n := g.r.IntN(7)
	for i := 0; i < n; i++ {
		if i > 0 {
			g.b = append(g.b, ',')
		}
		g.ws()
		g.value(depth)
		g.ws()
	}
	g.b = append(g.b, ']')
}

// keys is a small pool, so that keys repeat (also through escapes: "\u0061"
// is "a") and array-index keys mix with names.
var keys = []string{
	`"a"`, `"b"`, `"event"`, `"id"`, `"\u0061"`, `"é"`, `"\u00e9"`, `""`, `"__proto__"`,
	`"0"`, `"1"`, `"2"`, `"7"`, `"10"`, `"42"`, `"\u0034\u0032"`, `"01"`, `"-1"`, `"1e3"`, `"1.5"`,
	`"4294967294"`, `"4294967295"`, `"4294967296"`, `"9007199254740993"`, `" 1"`,
}

func (g *bodyGen) key() {
	if g.r.IntN(3) == 0 {
		g.str(true)
		return
	}
	g.b = append(g.b, keys[g.r.IntN(len(keys))]...)
}

// str appends a string of random pieces.
func (g *bodyGen) str(key bool) {
	g.b = append(g.b, '"')
	for n := g.r.IntN(8); n > 0; n-- {
		g.piece(key)
	}
	g.b = append(g.b, '"')
}

func (g *bodyGen) piece(key bool) {
	switch k := g.r.IntN(20); k {
	case 0, 1, 2, 3:
		const ascii = "abcxyzABC019 _-.:/~!@#$%^&*()[]{}<>?,;'`|+="
		for n := 1 + g.r.IntN(6); n > 0; n-- {
			g.b = append(g.b, ascii[g.r.IntN(len(ascii))])
		}
	case 4:
		g.b = append(g.b, 0x7f)
	case 5, 6:
		g.b = append(g.b, []string{`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`}[g.r.IntN(8)]...)
	case 7, 8:
		// A \u escape of a non-surrogate unit, in either hex case.
		var u rune
		switch g.r.IntN(6) {
		case 0:
			u = rune(g.r.IntN(0x20))
		case 1:
			u = rune(0x20 + g.r.IntN(0x60))
		case 2:
			u = rune(0x80 + g.r.IntN(0x780))
		case 3:
			u = []rune{0x2028, 0x2029, 0xfeff, 0xffff, 0xfffe, 0x7f, 0xe9}[g.r.IntN(7)]
		default:
			u = rune(0x800 + g.r.IntN(0xd800-0x800))
		}
		if key && u == 0 {
			u = 1 // a leading U+0000 in a key is its own defect
		}
		g.unit(u)
	case 9, 10:
		// An escaped surrogate pair.
		hi, lo := 0xd800+g.r.IntN(0x400), 0xdc00+g.r.IntN(0x400)
		g.unit(rune(hi))
		g.unit(rune(lo))
	case 11:
		if g.defect == defectLoneSurrogate {
			switch g.r.IntN(3) {
			case 0:
				g.unit(rune(0xd800 + g.r.IntN(0x800)))
			case 1: // reversed pair
				g.unit(0xdc00)
				g.unit(0xd800)
			default: // a high surrogate followed by a non-low escape
				g.unit(0xdbff)
				g.unit(0x41)
			}
		}
	default:
		// Raw UTF-8 of 2, 3 or 4 bytes.
		var r rune
		switch g.r.IntN(5) {
		case 0:
			r = rune(0x80 + g.r.IntN(0x780))
		case 1:
			r = rune(0x800 + g.r.IntN(0xd800-0x800))
		case 2:
			r = []rune{0x2028, 0x2029, 0xfeff, 0xffff, 0x10ffff, 0x1f600, 0xe9}[g.r.IntN(7)]
		default:
			r = rune(0x10000 + g.r.IntN(0x100000))
		}
		g.b = utf8.AppendRune(g.b, r)
	}
}

func (g *bodyGen) unit(u rune) {
	const lower, upper = "0123456789abcdef", "0123456789ABCDEF"
	h := lower
	if g.r.IntN(2) == 0 {
		h = upper
	}
	g.b = append(g.b, '\\', 'u', h[u>>12&15], h[u>>8&15], h[u>>4&15], h[u&15])
}

// number appends a number of one of many shapes.
func (g *bodyGen) number() {
	switch g.r.IntN(12) {
	case 0:
		g.b = strconv.AppendInt(g.b, int64(g.r.IntN(2001)-1000), 10)
	case 1:
		g.digits(1 + g.r.IntN(25))
	case 2:
		g.b = append(g.b, specialNumbers[g.r.IntN(len(specialNumbers))]...)
	case 3:
		g.digits(16 + g.r.IntN(300)) // beyond int64, within float64 mostly
	case 4, 5:
		g.floatBits('g', -1)
	case 6:
		g.floatBits("eEfg"[g.r.IntN(4)], g.r.IntN(30))
	case 7:
		// A decimal mantissa with a random exponent.
		if g.r.IntN(2) == 0 {
			g.b = append(g.b, '-')
		}
		g.b = append(g.b, '0'+byte(g.r.IntN(10)))
		if g.r.IntN(2) == 0 {
			g.b = append(g.b, '.')
			g.rawDigits(1 + g.r.IntN(40))
		}
		g.exponent(g.r.IntN(700) - 350)
	case 8:
		g.halfway()
	case 9:
		// Around the boundaries between the formats.
		mant := []string{"1", "9.999999999999999", "1.5", "123456789", "5"}[g.r.IntN(5)]
		exp := []int{-7, -6, -5, -4, -3, 15, 16, 17, 18, 20, 21, 22, 308, 309, -323, -324}[g.r.IntN(16)]
		g.b = append(g.b, mant...)
		g.exponent(exp)
	case 10:
		// Long mantissas: many digits after a short value.
		g.digits(1 + g.r.IntN(3))
		g.b = append(g.b, '.')
		g.rawDigits(50 + g.r.IntN(800))
	default:
		g.b = strconv.AppendInt(g.b, g.r.Int64()>>g.r.IntN(64), 10)
	}
}

var specialNumbers = []string{
	"0", "-0", "0.0", "-0.0", "0e0", "-0E-0", "0.000", "1.0", "10.0", "1E5", "1e+5", "1e-5",
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"18446744073709551615", "9007199254740992", "9007199254740993", "-9007199254740993",
	"12345678901234567890", "999999999999999999999", "1e21", "1e-7", "1e-6", "0.000001", "0.0000001",
	"1e16", "1e17", "1e15", "1e-4", "1e-5", "0.0001", "5e-324", "2.5e-324", "2.4703282292062328e-324", "1e-324",
	"1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623158079e308",
	"2.2250738585072014e-308", "2.2250738585072011e-308", "0.1", "0.2", "0.30000000000000004",
	"100", "1e2", "1E+2", "123e-2", "4.35", "1e007", "-1e-007", "1e0000000000000000000001",
	"0.000000000000000000000000000000000000000000000000000000000000000000000000001",
}

func (g *bodyGen) digits(n int) {
	if g.r.IntN(3) == 0 {
		g.b = append(g.b, '-')
	}
	g.b = append(g.b, '1'+byte(g.r.IntN(9)))
	g.rawDigits(n - 1)
}

func (g *bodyGen) rawDigits(n int) {
	for ; n > 0; n-- {
		g.b = append(g.b, '0'+byte(g.r.IntN(10)))
	}
}

func (g *bodyGen) exponent(exp int) {
	g.b = append(g.b, "eE"[g.r.IntN(2)])
	switch {
	case exp < 0:
		g.b = append(g.b, '-')
		exp = -exp
	case g.r.IntN(2) == 0:
		g.b = append(g.b, '+')
	}
	if g.r.IntN(4) == 0 {
		g.b = append(g.b, '0')
	}
	g.b = strconv.AppendInt(g.b, int64(exp), 10)
}

// floatBits appends a random finite float64 formatted by Go in a JSON-valid
// way.
func (g *bodyGen) floatBits(format byte, prec int) {
	f := math.Float64frombits(g.r.Uint64())
	for math.IsNaN(f) || math.IsInf(f, 0) {
		f = math.Float64frombits(g.r.Uint64())
	}
	if format == 'f' && math.Abs(f) > 1e30 || math.Abs(f) < 1e-30 && format == 'f' {
		format = 'e'
	}
	s := strconv.AppendFloat(nil, f, format, prec, 64)
	if format == 'E' && g.r.IntN(2) == 0 {
		s = []byte(strings.Replace(string(s), "E", "e", 1))
	}
	g.b = append(g.b, s...)
}

// halfway appends the exact decimal midway between two neighbouring
// float64s, or that plus or minus a tiny amount: the hardest cases for
// correct rounding.
func (g *bodyGen) halfway() {
	f := math.Float64frombits(g.r.Uint64() &^ (1 << 63))
	if math.IsNaN(f) || math.IsInf(f, 0) || f > 1e300 || f < 1e-300 {
		f = float64(g.r.Uint64()>>11) * math.Pow(10, float64(g.r.IntN(60)-30))
	}
	lo := new(big.Float).SetPrec(2200).SetFloat64(f)
	hi := new(big.Float).SetPrec(2200).SetFloat64(math.Nextafter(f, math.Inf(1)))
	mid := new(big.Float).SetPrec(2200).Add(lo, hi)
	mid.Quo(mid, big.NewFloat(2))
	s := strings.TrimRight(mid.Text('f', 1100), "0")
	s = strings.TrimSuffix(s, ".")
	switch g.r.IntN(3) {
	case 0:
		if !strings.Contains(s, ".") {
			s += "."
		}
		s += "0000000000000000000001"
	case 1:
		if i := strings.IndexByte(s, '.'); i >= 0 && len(s) > i+1 && s[len(s)-1] > '0' {
			s = s[:len(s)-1] + string(s[len(s)-1]-1) + "99999999"
		}
	}
	g.b = append(g.b, s...)
}
