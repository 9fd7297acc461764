// Package deb holds the nfpm configurations and maintainer scripts of
// Cradle's two Debian packages, and the test that builds and installs them.
// It has no Go API.
//
//   - cradle (cradle.yaml, cradle.postinst, cradle.prerm): the listener,
//     for a parent's computer: /usr/bin/cradle, the parent unit
//     cradle-listen@.service and /etc/default/cradle-listen. Its scripts
//     never enable, start or restart the monitor.
//   - cradled (cradled.yaml, cradled.postinst, cradled.prerm): the monitor,
//     for the Pi in the baby's room: /usr/bin/cradled, cradled.service and
//     its two sockets, the GPIO udev rule, /etc/cradle/cradled.toml and
//     /usr/lib/sysctl.d/60-cradled.conf (60-cradled.conf: the UDP buffer
//     ceilings quic-go asks for). Its postinst makes the system user cradle,
//     applies the sysctl file on a running system (not in a chroot or for
//     dpkg --root) and, on the first install, enables and starts the
//     monitor. It does not depend on cradle (the
//     image needs the monitor only); a Pi that is also a bedside parent unit
//     installs both.
//
// Releases before 0.2.0 had one package, cradle, with both. cradled
// Replaces and Breaks cradle (<< 0.2.0), so a machine that upgrades both
// keeps its monitor, its state and its enabled-or-not choice; a machine
// that upgrades cradle alone loses /usr/bin/cradled (cradle's postinst says
// so) until cradled is installed. testdata/cradle-0.1.0 is that old package,
// for the upgrade tests.
//
// package_test.go builds the packages with the repository's .tools/nfpm
// (make test installs it) from placeholder binaries and installs them with
// dpkg --root into throw-away root directories, the maintainer scripts run
// by dpkg itself (chrootless) in a private mount namespace where
// /run/systemd/system exists, against recording fakes of systemctl and the
// user tools.
package deb
