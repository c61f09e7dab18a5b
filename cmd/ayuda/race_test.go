//go:build race

package main

// raceEnabled: this test binary has the race detector, so the server the
// kill tests start is built with it too. It then reuses the packages the
// tests were compiled with instead of compiling everything a second time
// (most of cmd/ayuda's test time from empty caches), and the detector
// watches the real server under load as well.
const raceEnabled = true
