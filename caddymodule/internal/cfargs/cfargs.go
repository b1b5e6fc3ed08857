// Package cfargs reads the arguments of Caddyfile subdirectives for both
// Caddy modules of scgate. It only parses: the config rules (positive
// values, known names) are checked when the config loads, for JSON configs
// too. The one value it refuses besides malformed tokens is an explicit 0,
// which a JSON config cannot hold (0 there means "the default").
package cfargs

import (
	"errors"
	"math"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// One reads the one argument of the current subdirective.
func One(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

// NonEmpty is One refusing an empty argument (`""`), which would read as
// "not set".
func NonEmpty(d *caddyfile.Dispenser) (string, error) {
	name := d.Val()
	v, err := One(d)
	if err == nil && v == "" {
		err = d.Errf("%s must not be empty", name)
	}
	return v, err
}

// Append appends the one or more arguments of the current subdirective to
// list.
func Append(d *caddyfile.Dispenser, list []string) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return append(list, args...), nil
}

// None checks that the current subdirective (a flag) has no argument.
func None(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Number reads the one argument of the current subdirective, a number,
// duration or size, with parse. An explicit 0 is refused.
func Number[T int | int64 | caddy.Duration](d *caddyfile.Dispenser, parse func(string) (T, error)) (T, error) {
	name := d.Val()
	v, err := One(d)
	if err != nil {
		return 0, err
	}
	return number(d, name, v, parse)
}

// NumberOr is Number that also takes word, read as value: `event_log off`
// is -1, say.
func NumberOr[T int | int64 | caddy.Duration](d *caddyfile.Dispenser, parse func(string) (T, error), word string, value T) (T, error) {
	name := d.Val()
	v, err := One(d)
	if err != nil {
		return 0, err
	}
	if v == word {
		return value, nil
	}
	return number(d, name, v, parse)
}

func number[T int | int64 | caddy.Duration](d *caddyfile.Dispenser, name, v string, parse func(string) (T, error)) (T, error) {
	x, err := parse(v)
	if err != nil {
		return 0, d.Errf("parsing %s '%s': %v", name, v, err)
	}
	if x == 0 {
		return 0, d.Errf("%s 0 cannot be configured: leave %s out for its default", name, name)
	}
	return x, nil
}

// Durations appends the one or more duration arguments of the current
// subdirective to list.
func Durations(d *caddyfile.Dispenser, list []caddy.Duration) ([]caddy.Duration, error) {
	name := d.Val()
	args, err := Append(d, nil)
	if err != nil {
		return nil, err
	}
	for _, a := range args {
		dur, err := Duration(a)
		if err != nil {
			return nil, d.Errf("parsing %s '%s': %v", name, a, err)
		}
		list = append(list, dur)
	}
	return list, nil
}

// Int parses an integer for Number.
func Int(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("not an integer")
	}
	return n, nil
}

// Duration parses a duration (1h, 30s, 2d) for Number.
func Duration(v string) (caddy.Duration, error) {
	dur, err := caddy.ParseDuration(v)
	return caddy.Duration(dur), err
}

// Size parses a size (64KiB, 1MB, 512) for Number.
func Size(v string) (int64, error) {
	size, err := humanize.ParseBytes(v)
	if err != nil {
		return 0, err
	}
	if size > math.MaxInt64 {
		return 0, errors.New("too large")
	}
	return int64(size), nil
}
