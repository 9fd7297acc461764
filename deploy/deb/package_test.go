package deb

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The versions the packages are built at: splitVersion is the first
// release with two packages (cradled.yaml's Replaces and Breaks name it).
const (
	combinedVersion = "0.1.0"
	splitVersion    = "0.2.0"
	nextVersion     = "0.2.1"
)

// nfpmPath is where `make test` installs nfpm (the Makefile's $(TOOLS)/nfpm).
const nfpmPath = "../../.tools/nfpm"

// packages are the .deb files one test run builds.
type packages struct {
	listener, listenerNext string // cradle at splitVersion and nextVersion
	monitor, monitorNext   string // cradled at splitVersion and nextVersion
	combined               string // the pre-split cradle at combinedVersion
}

// buildPackages builds every package with nfpm from placeholder binaries
// (the packaging is under test, not the programs; `make deb` packages the
// real ones from the same configurations).
func buildPackages(t *testing.T) packages {
	t.Helper()
	nfpm, err := filepath.Abs(nfpmPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(nfpm); err != nil {
		t.Fatalf("nfpm is missing (%v): `make test` installs it, or `make %s`", err, nfpm)
	}
	arch := strings.TrimSpace(run(t, nil, "dpkg", "--print-architecture"))
	dir := t.TempDir()
	stage := filepath.Join(dir, "stage")
	if err := os.Mkdir(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cradle", "cradled"} {
		if err := os.WriteFile(filepath.Join(stage, name), []byte("#!/bin/sh\necho "+name+" placeholder\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := func(config, name, version string) string {
		out := filepath.Join(dir, name+"_"+version+"_"+arch+".deb")
		run(t, []string{"STAGE=" + stage, "ARCH=" + arch, "VERSION=" + version},
			nfpm, "pkg", "--packager", "deb", "--config", config, "--target", out)
		return out
	}
	return packages{
		listener:     build("cradle.yaml", "cradle", splitVersion),
		listenerNext: build("cradle.yaml", "cradle", nextVersion),
		monitor:      build("cradled.yaml", "cradled", splitVersion),
		monitorNext:  build("cradled.yaml", "cradled", nextVersion),
		combined:     build("testdata/cradle-0.1.0/nfpm.yaml", "cradle", combinedVersion),
	}
}

// run runs a command in this directory with env added to the
// environment and returns its standard output; it fails the test if the
// command fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// fakeScript records its call in $FAKE_LOG as "PACKAGE SCRIPT: NAME ARGS"
// (dpkg tells a maintainer script its package and name in the
// environment). systemctl's unit-file verbs act for real on the root being
// installed (systemctl --root, offline: the enable symlinks appear there),
// its list-units prints $FAKE_ACTIVE; getent finds nothing.
const fakeScript = `#!/bin/sh
echo "$DPKG_MAINTSCRIPT_PACKAGE $DPKG_MAINTSCRIPT_NAME: ${0##*/} $*" >>"$FAKE_LOG"
case "${0##*/} $1" in
"systemctl enable"|"systemctl disable"|"systemctl is-enabled"|"systemctl reenable"|"systemctl preset")
	verb=$1; shift
	for a; do shift; [ "$a" = --now ] || set -- "$@" "$a"; done
	exec "$REAL_SYSTEMCTL" --root="$DPKG_ROOT" "$verb" "$@" ;;
"systemctl list-units") [ -f "$FAKE_ACTIVE" ] && cat "$FAKE_ACTIVE" ;;
"getent "*) exit 2 ;;
esac
exit 0
`

// fakes are the commands a maintainer script may use to change the
// machine: all are replaced.
var fakes = []string{"systemctl", "deb-systemd-helper", "deb-systemd-invoke", "udevadm", "useradd", "groupadd",
	"usermod", "adduser", "addgroup", "getent", "invoke-rc.d", "update-rc.d", "service"}

// nsScript runs its arguments in the private mount namespace unshare made:
// /run is a fresh tmpfs in which /run/systemd/system (the scripts' "systemd
// is running") and /run/udev exist, and /etc and /usr are read-only, so that
// nothing a script runs past the fakes can change this machine.
const nsScript = `set -e
mount -t tmpfs cradle-deb-test /run
mkdir -p /run/systemd/system /run/udev
for d in /etc /usr; do mount --bind "$d" "$d"; mount -o remount,bind,ro "$d"; done
exec "$@"`

// machine is a throw-away root directory that dpkg installs into.
type machine struct {
	t                   *testing.T
	root, log, active   string
	fakesDir, systemctl string
}

func newMachine(t *testing.T) *machine {
	t.Helper()
	systemctl, err := exec.LookPath("systemctl")
	if err != nil {
		t.Fatalf("systemctl is missing (apt-get install systemd; make test's deps install it): %v", err)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare is missing (util-linux): %v", err)
	}
	dir := t.TempDir()
	m := &machine{t: t, root: filepath.Join(dir, "root"), log: filepath.Join(dir, "calls"),
		active: filepath.Join(dir, "active"), fakesDir: filepath.Join(dir, "fakes"), systemctl: systemctl}
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers",
		"usr/bin", "usr/sbin", "usr/lib", "etc/systemd/system", "var/lib", "tmp"} {
		if err := os.MkdirAll(filepath.Join(m.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(m.root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Merged /usr, as on Debian: /lib/systemd/system is /usr/lib/systemd/system.
	for _, d := range []string{"bin", "sbin", "lib"} {
		if err := os.Symlink("usr/"+d, filepath.Join(m.root, d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(m.fakesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range fakes {
		if err := os.WriteFile(filepath.Join(m.fakesDir, name), []byte(fakeScript), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// dpkg runs dpkg on the machine's root, its maintainer scripts unchrooted
// with DPKG_ROOT set, and returns its output, or an error.
func (m *machine) dpkg(args ...string) (string, error) {
	m.t.Helper()
	ns := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		ns = append(ns, "--map-root-user")
	}
	dpkg := append([]string{"dpkg", "--root=" + m.root, "--force-script-chrootless", "--force-depends",
		"--force-unsafe-io", "--log=/dev/null"}, args...)
	cmd := exec.Command("unshare", append(append(ns, "--", "sh", "-c", nsScript, "sh"), dpkg...)...)
	cmd.Env = []string{"PATH=" + m.fakesDir + ":/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=" + m.root,
		"FAKE_LOG=" + m.log, "FAKE_ACTIVE=" + m.active, "REAL_SYSTEMCTL=" + m.systemctl}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), errors.New("dpkg " + strings.Join(args, " ") + ": " + err.Error())
	}
	return string(out), nil
}

// mustDpkg is dpkg that fails the test on an error.
func (m *machine) mustDpkg(args ...string) string {
	m.t.Helper()
	out, err := m.dpkg(args...)
	if err != nil {
		m.t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// takeCalls returns the fakes' calls since the last takeCalls, one
// "PACKAGE SCRIPT: COMMAND ARGS" a line.
func (m *machine) takeCalls() []string {
	m.t.Helper()
	b, err := os.ReadFile(m.log)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		m.t.Fatal(err)
	}
	if err := os.Remove(m.log); err != nil {
		m.t.Fatal(err)
	}
	var calls []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		calls = append(calls, sc.Text())
	}
	return calls
}

// enabled lists the symlinks under the root's /etc/systemd/system (what
// systemctl enable makes), as "TARGET.wants/UNIT".
func (m *machine) enabled() []string {
	m.t.Helper()
	base := filepath.Join(m.root, "etc/systemd/system")
	var links []string
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			rel, _ := filepath.Rel(base, path)
			links = append(links, rel)
		}
		return nil
	})
	if err != nil {
		m.t.Fatal(err)
	}
	return links
}

// exists says whether a path exists in the root.
func (m *machine) exists(path string) bool {
	_, err := os.Lstat(filepath.Join(m.root, path))
	return err == nil
}

// owner is the package dpkg says owns a path in the root, or "".
func (m *machine) owner(path string) string {
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(m.root, "var/lib/dpkg"), "-S", path).Output()
	if err != nil {
		return ""
	}
	owner, _, _ := strings.Cut(strings.TrimSpace(string(out)), ":")
	return owner
}

// status is the package's version and status in the root's dpkg database.
func (m *machine) status(pkg string) string {
	out, _ := exec.Command("dpkg-query", "--admindir="+filepath.Join(m.root, "var/lib/dpkg"),
		"-W", "-f=${Version} ${db:Status-Abbrev}", pkg).Output()
	return strings.TrimSpace(string(out))
}

// mentioning returns the calls that contain s.
func mentioning(calls []string, s string) []string {
	var out []string
	for _, c := range calls {
		if strings.Contains(c, s) {
			out = append(out, c)
		}
	}
	return out
}

// fromPackage returns the calls made by the named package's scripts.
func fromPackage(calls []string, pkg string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, pkg+" ") {
			out = append(out, c)
		}
	}
	return out
}

// listenerLeftMonitor fails the test if a call of the listener's scripts
// mentions the monitor.
func listenerLeftMonitor(t *testing.T, calls []string) {
	t.Helper()
	if bad := mentioning(fromPackage(calls, "cradle"), "cradled"); len(bad) > 0 {
		t.Errorf("the listener's scripts touched the monitor:\n%s", strings.Join(bad, "\n"))
	}
}

// listenerOnly fails the test if a call of the listener's scripts mentions
// the monitor, or if anything in the root is enabled for it.
func listenerOnly(t *testing.T, m *machine, calls []string) {
	t.Helper()
	listenerLeftMonitor(t, calls)
	if links := m.enabled(); len(mentioning(links, "cradled")) > 0 {
		t.Errorf("cradled is enabled after installing the listener: %q", links)
	}
}

// contents lists a .deb's paths (dpkg-deb -c) without the leading ".".
func contents(t *testing.T, deb string) []string {
	t.Helper()
	var paths []string
	for _, line := range strings.Split(strings.TrimSpace(run(t, nil, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c %s: %q", deb, line)
		}
		paths = append(paths, strings.TrimPrefix(f[5], "."))
	}
	return paths
}

// sysctlFile is the monitor's sysctl.d drop-in: quic-go's UDP buffers.
const sysctlFile = "/usr/lib/sysctl.d/60-cradled.conf"

// checkSysctl fails the test unless the root holds sysctlFile, 0644 and
// not a conffile (a parent overrides it in /etc/sysctl.d), raising both
// UDP buffer ceilings to what quic-go asks for (7 MiB) or more.
func checkSysctl(t *testing.T, m *machine) {
	t.Helper()
	path := filepath.Join(m.root, sysctlFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("the monitor's sysctl.d file: %v", err)
		return
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("%s: mode %v", sysctlFile, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil {
			t.Errorf("%s: not KEY = NUMBER: %q", sysctlFile, line)
			continue
		}
		got[strings.TrimSpace(k)] = n
	}
	const quicGoWants = 7 << 20 // quic-go's desiredBufferSize (sys_conn_buffers_nonopenbsd.go)
	for _, key := range []string{"net.core.rmem_max", "net.core.wmem_max"} {
		if got[key] < quicGoWants {
			t.Errorf("%s: %s = %d, want at least %d (quic-go's buffer)", sysctlFile, key, got[key], quicGoWants)
		}
	}
	if len(got) != 2 {
		t.Errorf("%s sets %d keys, want only the two ceilings: %v", sysctlFile, len(got), got)
	}
	conffiles, _ := os.ReadFile(filepath.Join(m.root, "var/lib/dpkg/info/cradled.conffiles"))
	if strings.Contains(string(conffiles), sysctlFile) {
		t.Errorf("%s is a conffile", sysctlFile)
	}
}

// field is one field of a .deb's control file.
func field(t *testing.T, deb, name string) string {
	t.Helper()
	return strings.TrimSpace(run(t, nil, "dpkg-deb", "--field", deb, name))
}

// TestPackages builds the packages once and checks them: their contents,
// then installs, upgrades and removals on throw-away roots, each subtest
// on its own.
func TestPackages(t *testing.T) {
	debs := buildPackages(t)

	t.Run("listener package has no monitor", func(t *testing.T) {
		paths := contents(t, debs.listener)
		for _, want := range []string{"/usr/bin/cradle", "/lib/systemd/system/cradle-listen@.service",
			"/etc/default/cradle-listen", "/usr/share/doc/cradle/README.md"} {
			if !slices.Contains(paths, want) {
				t.Errorf("cradle lacks %s: %q", want, paths)
			}
		}
		for _, p := range paths {
			if strings.Contains(p, "cradled") || strings.Contains(p, "udev") || strings.Contains(p, "sysctl") ||
				strings.HasPrefix(p, "/etc/cradle") {
				t.Errorf("cradle ships the monitor's %s", p)
			}
		}
		if got := field(t, debs.listener, "Package"); got != "cradle" {
			t.Errorf("Package: %q", got)
		}
		for _, f := range []string{"Depends", "Pre-Depends", "Recommends"} {
			if got := field(t, debs.listener, f); strings.Contains(got, "cradled") || strings.Contains(got, "passwd") {
				t.Errorf("cradle's %s: %q", f, got)
			}
		}
		control := t.TempDir()
		run(t, nil, "dpkg-deb", "--control", debs.listener, control)
		conffiles, err := os.ReadFile(filepath.Join(control, "conffiles"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(conffiles)); !slices.Equal(got, []string{"/etc/default/cradle-listen"}) {
			t.Errorf("cradle's conffiles: %q", got)
		}
		for _, script := range []string{"postinst", "prerm"} {
			if _, err := os.Stat(filepath.Join(control, script)); err != nil {
				t.Errorf("cradle has no %s: %v", script, err)
			}
		}
	})

	t.Run("monitor package has the monitor and takes it over", func(t *testing.T) {
		paths := contents(t, debs.monitor)
		for _, want := range []string{"/usr/bin/cradled", "/lib/systemd/system/cradled.service",
			"/lib/systemd/system/cradled-https.socket", "/lib/systemd/system/cradled-http.socket",
			"/usr/lib/udev/rules.d/60-cradle-gpio.rules", "/etc/cradle/cradled.toml", sysctlFile} {
			if !slices.Contains(paths, want) {
				t.Errorf("cradled lacks %s: %q", want, paths)
			}
		}
		for _, p := range paths {
			if p == "/usr/bin/cradle" || strings.Contains(p, "cradle-listen") {
				t.Errorf("cradled ships the listener's %s", p)
			}
		}
		for _, f := range []string{"Replaces", "Breaks"} {
			if got, want := field(t, debs.monitor, f), "cradle (<< "+splitVersion+")"; got != want {
				t.Errorf("cradled's %s: %q, want %q", f, got, want)
			}
		}
		if got := field(t, debs.monitor, "Depends"); strings.Contains(got, "cradle ") || strings.HasSuffix(got, "cradle") {
			t.Errorf("cradled depends on the listener: %q", got)
		}
	})

	t.Run("listener install, upgrade and removal leave the monitor alone", func(t *testing.T) {
		m := newMachine(t)
		m.mustDpkg("-i", debs.listener)
		calls := m.takeCalls()
		listenerOnly(t, m, calls)
		if !slices.Contains(calls, "cradle postinst: systemctl daemon-reload") {
			t.Errorf("the listener's postinst did not run as on a systemd machine: %q", calls)
		}
		for _, p := range []string{"/usr/bin/cradle", "/lib/systemd/system/cradle-listen@.service", "/etc/default/cradle-listen"} {
			if !m.exists(p) {
				t.Errorf("%s not installed", p)
			}
		}
		for _, p := range []string{"/usr/bin/cradled", "/lib/systemd/system/cradled.service", "/etc/cradle", sysctlFile} {
			if m.exists(p) {
				t.Errorf("installing the listener installed %s", p)
			}
		}
		if links := m.enabled(); len(links) > 0 {
			t.Errorf("installing the listener enabled %q", links)
		}

		// An upgrade restarts the parent unit's running instances.
		if err := os.WriteFile(m.active, []byte("cradle-listen@Nursery.service loaded active running Cradle listener\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		m.mustDpkg("-i", debs.listenerNext)
		calls = m.takeCalls()
		listenerOnly(t, m, calls)
		if !slices.Contains(calls, "cradle postinst: systemctl try-restart cradle-listen@Nursery.service") {
			t.Errorf("the upgrade did not restart the running parent unit: %q", calls)
		}

		m.mustDpkg("-r", "cradle")
		calls = m.takeCalls()
		listenerOnly(t, m, calls)
		if !slices.Contains(calls, "cradle prerm: systemctl stop cradle-listen@Nursery.service") {
			t.Errorf("the removal did not stop the parent unit: %q", calls)
		}
		if m.exists("/usr/bin/cradle") {
			t.Errorf("/usr/bin/cradle stays after the removal")
		}
	})

	t.Run("monitor install enables and starts cradled", func(t *testing.T) {
		m := newMachine(t)
		m.mustDpkg("-i", debs.monitor)
		calls := m.takeCalls()
		for _, want := range []string{
			"cradled postinst: systemctl enable cradled.service cradled-https.socket cradled-http.socket",
			"cradled postinst: systemctl restart cradled.service",
			"cradled postinst: useradd --system --gid cradle --groups audio,video,gpio --home-dir /var/lib/cradle --no-create-home --shell /usr/sbin/nologin --comment Cradle baby monitor cradle",
		} {
			if !slices.Contains(calls, want) {
				t.Errorf("no %q in %q", want, calls)
			}
		}
		wantLinks := []string{"multi-user.target.wants/cradled.service",
			"sockets.target.wants/cradled-http.socket", "sockets.target.wants/cradled-https.socket"}
		if got := m.enabled(); !slices.Equal(got, wantLinks) {
			t.Errorf("enabled %q, want %q", got, wantLinks)
		}
		// The UDP buffer ceilings quic-go asks for, where systemd-sysctl
		// reads them at boot. A dpkg --root install never applies them:
		// the kernel is the installing machine's, not the root's.
		checkSysctl(t, m)
		if bad := mentioning(calls, "systemd-sysctl"); len(bad) > 0 {
			t.Errorf("a --root install applied sysctl settings to this machine: %q", bad)
		}

		// An upgrade keeps it and restarts it.
		m.mustDpkg("-i", debs.monitorNext)
		if calls := m.takeCalls(); !slices.Contains(calls, "cradled postinst: systemctl try-restart cradled.service") {
			t.Errorf("the upgrade did not restart cradled: %q", calls)
		}
		if got := m.enabled(); !slices.Equal(got, wantLinks) {
			t.Errorf("after the upgrade enabled %q, want %q", got, wantLinks)
		}

		m.mustDpkg("-r", "cradled")
		m.takeCalls()
		if got := m.enabled(); len(got) > 0 {
			t.Errorf("after the removal enabled %q", got)
		}
	})

	t.Run("listener and monitor on one machine", func(t *testing.T) {
		m := newMachine(t)
		m.mustDpkg("-i", debs.listener, debs.monitor)
		listenerLeftMonitor(t, m.takeCalls())
		if !m.exists("/usr/bin/cradle") || !m.exists("/usr/bin/cradled") {
			t.Errorf("both programs are not installed")
		}
		m.mustDpkg("-r", "cradle")
		if calls := mentioning(m.takeCalls(), "cradled"); len(calls) > 0 {
			t.Errorf("removing the listener touched the monitor: %q", calls)
		}
		if got := m.enabled(); !slices.Contains(got, "multi-user.target.wants/cradled.service") || !m.exists("/usr/bin/cradled") {
			t.Errorf("removing the listener took the monitor: enabled %q", got)
		}
	})

	// A machine with the combined package: the monitor enabled (or not),
	// its state in /var/lib/cradle and a changed cradled.toml.
	combined := func(t *testing.T, disabled bool) *machine {
		m := newMachine(t)
		m.mustDpkg("-i", debs.combined)
		m.takeCalls()
		if disabled {
			run(t, nil, m.systemctl, "--root="+m.root, "disable", "cradled.service", "cradled-https.socket", "cradled-http.socket")
		}
		if err := os.MkdirAll(filepath.Join(m.root, "var/lib/cradle"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(m.root, "var/lib/cradle/identity"), []byte("the monitor's key"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(m.root, "etc/cradle/cradled.toml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("# changed by the parent\n"); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// kept checks that the monitor came through the upgrade: its program
	// and files are cradled's, its state and configuration are there.
	kept := func(t *testing.T, m *machine) {
		t.Helper()
		for _, p := range []string{"/usr/bin/cradled", "/lib/systemd/system/cradled.service", "/etc/cradle/cradled.toml",
			"/usr/lib/udev/rules.d/60-cradle-gpio.rules"} {
			if got := m.owner(p); got != "cradled" {
				t.Errorf("%s belongs to %q, want cradled", p, got)
			}
		}
		if got := m.owner("/usr/bin/cradle"); got != "cradle" {
			t.Errorf("/usr/bin/cradle belongs to %q", got)
		}
		if b, err := os.ReadFile(filepath.Join(m.root, "var/lib/cradle/identity")); err != nil || string(b) != "the monitor's key" {
			t.Errorf("the monitor's state: %q, %v", b, err)
		}
		if b, err := os.ReadFile(filepath.Join(m.root, "etc/cradle/cradled.toml")); err != nil || !strings.HasSuffix(string(b), "# changed by the parent\n") {
			t.Errorf("the parent's cradled.toml was not kept (%v):\n%s", err, b)
		}
		for _, suffix := range []string{".dpkg-new", ".dpkg-dist", ".dpkg-old"} {
			if m.exists("/etc/cradle/cradled.toml" + suffix) {
				t.Errorf("cradled.toml%s after the upgrade", suffix)
			}
		}
		for _, pkg := range []string{"cradle", "cradled"} {
			if got := m.status(pkg); got != splitVersion+" ii" {
				t.Errorf("%s: %q", pkg, got)
			}
		}
	}
	enabledLinks := []string{"multi-user.target.wants/cradled.service",
		"sockets.target.wants/cradled-http.socket", "sockets.target.wants/cradled-https.socket"}

	for _, order := range [][]string{{"cradle", "cradled"}, {"cradled", "cradle"}} {
		t.Run("upgrade from the combined package, "+strings.Join(order, " then "), func(t *testing.T) {
			m := combined(t, false)
			if got := m.enabled(); !slices.Equal(got, enabledLinks) {
				t.Fatalf("the combined package enabled %q", got)
			}
			args := []string{"--auto-deconfigure", "-i"}
			for _, p := range order {
				args = append(args, map[string]string{"cradle": debs.listener, "cradled": debs.monitor}[p])
			}
			m.mustDpkg(args...)
			calls := m.takeCalls()
			listenerLeftMonitor(t, calls)
			kept(t, m)
			if got := m.enabled(); !slices.Equal(got, enabledLinks) {
				t.Errorf("after the upgrade enabled %q, want %q", got, enabledLinks)
			}
			if !slices.Contains(calls, "cradled postinst: systemctl try-restart cradled.service") {
				t.Errorf("the monitor was not restarted on its new program: %q", calls)
			}
		})
	}

	t.Run("upgrade from the combined package, monitor disabled", func(t *testing.T) {
		m := combined(t, true)
		m.mustDpkg("-i", debs.listener, debs.monitor)
		calls := m.takeCalls()
		listenerLeftMonitor(t, calls)
		kept(t, m)
		if got := m.enabled(); len(got) > 0 {
			t.Errorf("the parent had disabled the monitor; after the upgrade enabled %q", got)
		}
		if bad := mentioning(calls, "systemctl enable cradled.service"); len(bad) > 0 {
			t.Errorf("the upgrade enabled the monitor: %q", bad)
		}
	})

	t.Run("upgrade from the combined package, listener only", func(t *testing.T) {
		m := combined(t, false)
		out := m.mustDpkg("-i", debs.listener)
		listenerLeftMonitor(t, m.takeCalls())
		if m.exists("/usr/bin/cradled") {
			t.Errorf("/usr/bin/cradled stays without the package cradled")
		}
		if !strings.Contains(out, "install it too to keep the monitor") {
			t.Errorf("the upgrade did not say that the monitor is now the package cradled:\n%s", out)
		}
		// Installing cradled later brings the monitor back as it was.
		m.mustDpkg("-i", debs.monitor)
		m.takeCalls()
		kept(t, m)
		if got := m.enabled(); !slices.Equal(got, enabledLinks) {
			t.Errorf("after installing cradled enabled %q, want %q", got, enabledLinks)
		}
	})
}
