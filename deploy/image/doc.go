// Package image holds no Go code of its own: the Pi image is built by
// build.sh and its first-boot and wipe scripts are shell. Its tests run
// those scripts on a copy of the card's layout (wipe_test.go).
package image
