package reencode

import "fmt"

// Style names the runtime whose default JSON round trip Append reproduces.
// The zero value is not a style, so a forgotten setting cannot silently pick
// one.
type Style uint8

const (
	// JS is JSON.stringify(JSON.parse(body)) in Node.js.
	JS Style = iota + 1
	// Python is json.dumps(json.loads(body)) with Python 3 defaults.
	Python
	// PHP is json_encode(json_decode($body)) with PHP 8 defaults.
	PHP
)

var styleNames = [...]string{JS: "js", Python: "python", PHP: "php"}

// ParseStyle returns the style named "js", "python" or "php".
func ParseStyle(name string) (Style, error) {
	for s, n := range styleNames {
		if n != "" && n == name {
			return Style(s), nil
		}
	}
	return 0, fmt.Errorf("reencode: unknown style %q (want js, python or php)", name)
}

// String returns the name ParseStyle accepts.
func (s Style) String() string {
	if s.valid() {
		return styleNames[s]
	}
	return fmt.Sprintf("Style(%d)", uint8(s))
}

func (s Style) valid() bool { return s >= JS && s <= PHP }
