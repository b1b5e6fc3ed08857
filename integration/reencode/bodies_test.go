package reencode_test

import "strings"

// bodyCase is a valid event body as a sender may write it, with what each
// example handler does with it. {ID} stands for a fresh screenshot id.
type bodyCase struct {
	name string
	body string
	// fixedPoint names the styles whose round trip writes this body back
	// byte for byte: only their handlers accept it without reencode.
	fixedPoint []string
	// refused maps a style to the reason the gateway refuses the body
	// with (422) under reencode, because that runtime cannot process it.
	refused map[string]string
}

func (c bodyCase) with(id string) string { return strings.ReplaceAll(c.body, "{ID}", id) }

func (c bodyCase) isFixedPoint(style string) bool {
	for _, s := range c.fixedPoint {
		if s == style {
			return true
		}
	}
	return false
}

var bodyCases = []bodyCase{
	{
		// What JSON.stringify writes: the form the vendor's sample expects.
		name:       "compact",
		body:       `{"event":"screenshot.finished","screenshot_id":"{ID}","url":"https://example.com","status":"finished","image_url":"https://cdn.screenshotcenter.com/{ID}.png","width":1280,"height":720,"created_at":"2026-02-22T14:30:00Z","metadata":{}}`,
		fixedPoint: []string{"js"},
	},
	{
		// The vendor's documented payload, as printed in its docs.
		name: "pretty-printed",
		body: `{
  "event": "screenshot.finished",
  "screenshot_id": "{ID}",
  "url": "https://example.com",
  "status": "finished",
  "image_url": "https://cdn.screenshotcenter.com/{ID}.png",
  "width": 1280,
  "height": 720,
  "created_at": "2026-02-22T14:30:00Z",
  "metadata": {}
}`,
	},
	{
		// PHP's json_encode escapes slashes; so do some other encoders.
		name:       "escaped slashes",
		body:       `{"event":"screenshot.finished","screenshot_id":"{ID}","url":"https:\/\/example.com","status":"finished","image_url":"https:\/\/cdn.screenshotcenter.com\/{ID}.png","metadata":{}}`,
		fixedPoint: []string{"php"},
	},
	{
		// ensure_ascii-style escapes, an astral character as a pair.
		name:       "unicode escapes",
		body:       `{"event":"screenshot.finished","screenshot_id":"{ID}","status":"finished","title":"Caf\u00e9 \u2014 \ud83d\udcf8 \u00a0"}`,
		fixedPoint: []string{"php"},
	},
	{
		name:       "raw UTF-8",
		body:       `{"event":"screenshot.finished","screenshot_id":"{ID}","status":"finished","title":"Café — 📸  "}`,
		fixedPoint: []string{"js"},
	},
	{
		// A 64-bit id beyond float64's exact integers, a float written
		// with ".0", an exponent, a negative zero and a small number.
		name: "big numbers",
		body: `{"event":"screenshot.finished","screenshot_id":"{ID}","job_id":12345678901234567890,"scale":1.0,"bytes":1E3,"offset":-0.0,"ratio":1e-7}`,
	},
	{
		// What json.dumps writes.
		name:       "python separators",
		body:       `{"event": "screenshot.finished", "screenshot_id": "{ID}", "status": "finished", "width": 1280}`,
		fixedPoint: []string{"python"},
	},
	{
		// JavaScript and Python keep a lone surrogate (escaped); PHP's
		// json_decode fails on it.
		name:       "lone surrogate",
		body:       `{"event":"screenshot.finished","screenshot_id":"{ID}","title":"\ud800"}`,
		fixedPoint: []string{"js"},
		refused:    map[string]string{"php": "reencode_lone_surrogate"},
	},
}
