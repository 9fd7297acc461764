// Package e2e holds end-to-end tests that build and run the real cradled
// and cradle binaries on loopback (and, for network faults, inside network
// namespaces the tests create). It has no non-test code.
package e2e
