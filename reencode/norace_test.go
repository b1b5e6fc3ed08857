//go:build !race

package reencode

const raceEnabled = false
