// Package doccheck holds the test that the documentation stays true where
// a test can tell: every cradle and cradled command line in the docs'
// code blocks parses with the binaries' real flags and subcommands, and
// every configuration snippet loads with cradled's real loader. It has no
// non-test code.
package doccheck
