#!/bin/bash
# image-test-pi3.sh IMG CRADLE: the image on QEMU's Raspberry Pi 3 model
# (-M raspi3b, TCG): the image's own kernel, initrd and Pi 3 B device tree
# (bcm2837-rpi-3-b.dtb), the card's cmdline.txt (its consoles replaced by
# QEMU's UART, ttyAMA0), a scratch copy of the card as the SD card, and
# QEMU's USB network (usb-net: the guest's usb0) on a tap device inside a
# network namespace this script creates, with dnsmasq as the DHCP server
# (never the host's interfaces). From the host side of that namespace:
#
#   1. reads the setup code and room name from the card (mtools);
#   2. waits for "monitor ready", finds the monitor by its room name over
#      mDNS (cradle discover) and pairs a listener with the card's code
#      (the window of a factory-new monitor is open: no button);
#   3. listens (cradle listen --record) and checks the 440 Hz test tone
#      (the model has no sound card);
#   4. over SSH (a throw-away key dropped on the card's boot partition),
#      with Debian's gpiod (gpioinfo, gpiodetect: not on the image; the
#      arm64 .debs are fetched on the host with apt-get download, copied in
#      and installed) and the kernel's GPIO debugfs: cradled, as user
#      cradle in its unit's sandbox, holds GPIO17 (LED) as an output and
#      GPIO27 (button) as an input with the pull-up and edge detection, on
#      the BCM2835's pin controller's character device (gpiochip0,
#      group gpio through the package's udev rule), not through
#      /dev/gpiomem or /dev/mem; the LED line's value, sampled several
#      hundred times a second, follows the patterns: the missing
#      microphone's error blink, then (media = "test", hw = "pi" in a
#      drop-in) the ready blip every 3 s and, after `cradled pair`, the
#      pairing blink (500 ms on, 500 ms off);
#   5. configures the pins by chip and line offset instead of names
#      (gpio_chip, led_line = 22, button_line = 23) and checks again that
#      the kernel shows those lines held by cradled and the LED line
#      blinking.
#
# Prints the seconds from QEMU's start to "monitor ready", to paired and to
# first audio. Every wait is bounded; the whole run by TIMEOUT (default
# 1500 s: four emulated cores on a shared host). QEMU cannot drive a
# GPIO input: the button's presses are not tested here (README.md).
# Needs root (network namespace), qemu-system-arm, dnsmasq-base, mtools,
# fdisk, opus-tools, openssh-client, python3, and arm64 as a dpkg
# architecture with its apt lists (for apt-get download gpiod:arm64).
# CRADLE is the host's cradle binary.
set -eu

[ $# = 2 ] || { echo "usage: $0 IMG CRADLE" >&2; exit 2; }
IMG=$1
CRADLE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
TIMEOUT=${TIMEOUT:-1500}
GPIOD_DEBS=${GPIOD_DEBS:-/var/cache/cradle-image-test/gpiod}
[ "$(id -u)" = 0 ] || { echo "image-test-pi3.sh: run as root (it creates a network namespace)" >&2; exit 2; }
for tool in qemu-system-aarch64 dnsmasq mtype mcopy sfdisk opusdec ssh scp ssh-keygen python3 apt-get; do
	command -v "$tool" >/dev/null || { echo "image-test-pi3.sh: missing $tool (make image-test-pi3 installs it)" >&2; exit 2; }
done

TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/cradle-image-test-pi3.XXXXXX")
NS=cradle-pi3-$$
QPID="" DPID=""
cleanup() {
	rc=$?
	set +e
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	if [ $rc != 0 ] && [ -f "$TMP/console.log" ]; then
		cp "$TMP/console.log" "${IMG%.img}.image-test-pi3-console.log"
		echo "image-test-pi3.sh: FAILED; guest console in ${IMG%.img}.image-test-pi3-console.log" >&2
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ME=image-test-pi3.sh
. "$(dirname "$0")/image-test-lib.sh"

# Debian's gpiod for the guest (arm64), fetched once.
if ! ls "$GPIOD_DEBS"/gpiod_*_arm64.deb "$GPIOD_DEBS"/libgpiod2_*_arm64.deb >/dev/null 2>&1; then
	mkdir -p "$GPIOD_DEBS"
	chown _apt "$GPIOD_DEBS" 2>/dev/null || true # apt-get download's sandbox user
	(cd "$GPIOD_DEBS" && apt-get download -q gpiod:arm64 libgpiod2:arm64) ||
		die "cannot download gpiod:arm64 (dpkg --add-architecture arm64 && apt-get update)"
fi

# ---- 1. The card ----
read_card "$IMG"
mcopy -i "$FAT" ::/bcm2837-rpi-3-b.dtb "$TMP/pi3b.dtb" || die "no bcm2837-rpi-3-b.dtb on the boot partition"
# The card's own command line (root=LABEL=ROOT, net.ifnames=0, ...), with
# QEMU's first UART (the PL011, ttyAMA0) as the console.
CMDLINE="$(mtype -i "$FAT" ::/cmdline.txt | tr -d '\r\n' | sed 's/console=[^ ]*//g; s/  */ /g') console=ttyAMA0 systemd.journald.forward_to_console=1"
# The SD card: raspi3b needs a power-of-two size; room to grow too.
cp --sparse=always "$IMG" "$TMP/disk.img"
SIZE=$(stat -c %s "$IMG")
CARD=$((1 << 30))
while [ $CARD -lt $((SIZE + (256 << 20))) ]; do CARD=$((CARD * 2)); done
truncate -s "$CARD" "$TMP/disk.img"
ssh-keygen -q -t ed25519 -N '' -C image-test-pi3 -f "$TMP/key"
cp "$TMP/key.pub" "$TMP/authorized_keys"
mcopy -i "$TMP/disk.img@@$((START * 512))" "$TMP/authorized_keys" ::/authorized_keys

# ---- Network namespace, DHCP, QEMU ----
private_lan 192.168.79
L=(--state-dir "$TMP/listener" --name image-test-pi3)

# usb-net on the controller's only port: QEMU would otherwise chain it
# behind a hub of its own, one more device to enumerate.
USBNET=usb-net,netdev=n0,id=un0,bus=usb-bus.0,port=1
T0=$(now)
timeout --kill-after=10 "$TIMEOUT" ip netns exec "$NS" qemu-system-aarch64 -M raspi3b \
	-nographic -no-reboot -monitor "unix:$TMP/monitor.sock,server=on,wait=off" -serial stdio \
	-kernel "$TMP/vmlinuz" -initrd "$TMP/initrd" -dtb "$TMP/pi3b.dtb" -append "$CMDLINE" \
	-drive "file=$TMP/disk.img,format=raw,if=sd" \
	-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device "$USBNET" \
	</dev/null >"$TMP/console.log" 2>&1 &
QPID=$!
echo "qemu started (raspi3b, 4 cortex-a53 cores, TCG; cmdline: $CMDLINE); guest console: $TMP/console.log"

# poll SECONDS CMD...: as wait_for, but returns 1 when time is up.
poll() {
	local end=$(( $(date +%s) + $1 )); shift
	until "$@" >/dev/null 2>&1; do
		kill -0 "$QPID" 2>/dev/null || die "qemu exited"
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.5
	done
}
# qmon CMD: one command to QEMU's monitor; prints its answer.
qmon() {
	python3 - "$TMP/monitor.sock" "$1" <<-'EOF'
	import socket, sys, time
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(2)
	s.sendall(sys.argv[2].encode() + b"\n"); time.sleep(1); out = b""
	try:
	    while True:
	        b = s.recv(65536)
	        if not b: break
	        out += b
	except socket.timeout:
	    pass
	print(out.decode(errors="replace"))
	EOF
}
# QEMU's USB host controller (dwc2) under TCG on a loaded host sometimes
# fails the first enumeration ("dwc2 3f980000.usb: Not connected", then the
# kernel gives up on the port). Plugging the device again (a new connect
# event on the port) makes the kernel enumerate it again: at most 3 times.
wait_for 400 "the USB host controller" grep -a -q 'DWC OTG Controller' "$TMP/console.log"
usb_up() { grep -a -q 'usb0: register' "$TMP/console.log"; }
REPLUGS=0
until poll 45 usb_up; do
	[ $REPLUGS -lt 3 ] || die "QEMU's USB network (usb-net) never appeared in the guest as usb0"
	REPLUGS=$((REPLUGS + 1))
	echo "  no usb0 yet ($(since "$T0") s): re-plugging QEMU's usb-net (time $REPLUGS)"
	qmon "device_del un0" >/dev/null
	unplugged() { ! qmon "info usb" | grep -q 'ID: un0'; }
	poll 30 unplugged || die "QEMU did not unplug usb-net"
	qmon "device_add $USBNET" >/dev/null
done
echo "usb0 registered    $(since "$T0") s ($REPLUGS re-plugs)"
wait_for 600 '"monitor ready" on the console' grep -q 'monitor ready' "$TMP/console.log"
T_READY=$(now)
echo "monitor ready      $(since "$T0" "$T_READY") s after QEMU start"
grep -a -m1 'usb0: DHCPv4 address' "$TMP/console.log" | tr -d '\r' | sed 's/^.*usb0/  usb0/' || true

# check_tone NAME OGG: the recording decodes and its dominant frequency is
# 440 Hz (the test tone). (As in image-test.sh.)
check_tone() {
	opusdec --quiet --rate 48000 "$2" "$TMP/$1.wav" 2>/dev/null || die "the recording does not decode"
	python3 - "$TMP/$1.wav" <<-'EOF' || die "the recording is not the 440 Hz tone"
	import math, struct, sys, wave
	w = wave.open(sys.argv[1]); rate = w.getframerate(); n = w.getnframes()
	pcm = struct.unpack("<%dh" % n, w.readframes(n))
	secs = n / rate
	seg = pcm[n // 4: n // 4 + rate // 2]          # half a second, past the start
	def power(f):                                  # Goertzel
	    c = 2 * math.cos(2 * math.pi * f / rate); s1 = s2 = 0.0
	    for x in seg:
	        s1, s2 = x + c * s1 - s2, s1
	    return s1 * s1 + s2 * s2 - c * s1 * s2
	best = max(range(300, 605, 5), key=power)
	rms = math.sqrt(sum(x * x for x in seg) / len(seg)) / 32768
	print("  recorded %.1f s, dominant %d Hz, RMS %.1f dBFS" % (secs, best, 20 * math.log10(max(rms, 1e-9))))
	sys.exit(0 if abs(best - 440) <= 5 and secs > 3 else 1)
	EOF
}

# ---- 2. Discover by name, pair with the card's code (no button) ----
found() { inns "$CRADLE" "${L[@]}" discover --timeout 2s | grep -F -- "$ROOM"; }
wait_for 180 "mDNS answer for \"$ROOM\"" found
inns "$CRADLE" "${L[@]}" discover --timeout 2s | sed 's/^/  /'
echo "found over mDNS    $(since "$T0") s"
end=$(( $(date +%s) + 180 ))
while :; do
	rc=0
	inns "$CRADLE" "${L[@]}" pair "$ROOM" --code "$CODE" --timeout 60s >"$TMP/pair.out" 2>&1 || rc=$?
	[ $rc = 0 ] && break
	cat "$TMP/pair.out" >&2
	[ $rc = 4 ] && die "pairing refused: the window of a factory-new monitor was not open"
	[ "$(date +%s)" -lt "$end" ] || die "could not pair within 180 s (exit $rc)"
	sleep 1
done
T_PAIRED=$(now)
sed 's/^/  /' "$TMP/pair.out"
echo "paired             $(since "$T0" "$T_PAIRED") s"

# ---- 3. Listen, check the tone ----
inns timeout 120 "$CRADLE" "${L[@]}" listen "$ROOM" --output none --record "$TMP/first.ogg" --duration 8s >"$TMP/listen.out" 2>&1 ||
	{ cat "$TMP/listen.out" >&2; die "cradle listen failed"; }
line=$(grep -m1 'first audio' "$TMP/listen.out") || { cat "$TMP/listen.out" >&2; die "no audio"; }
T_AUDIO=$(date -d "$(echo "$line" | cut -d' ' -f1)" +%s.%N)
grep -E 'online|stream connected|first audio' "$TMP/listen.out" | sed 's/^/  /'
check_tone first "$TMP/first.ogg"
echo "first audio        $(since "$T0" "$T_AUDIO") s"

# ---- 4. The GPIO lines, as the kernel sees them ----
IP=$(awk '{print $3}' "$TMP/leases" | head -n 1)
[ -n "$IP" ] || die "no DHCP lease for the guest"
SSH=(ip netns exec "$NS" ssh -i "$TMP/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o LogLevel=ERROR -o ConnectTimeout=20 -o BatchMode=yes "root@$IP")
wait_for 180 "SSH on the guest ($IP)" "${SSH[@]}" true
inns scp -q -i "$TMP/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
	"$GPIOD_DEBS"/gpiod_*_arm64.deb "$GPIOD_DEBS"/libgpiod2_*_arm64.deb "root@$IP:/tmp/"
"${SSH[@]}" 'dpkg -i /tmp/gpiod_*_arm64.deb /tmp/libgpiod2_*_arm64.deb >/dev/null && gpiodetect' | sed 's/^/  gpiodetect: /' ||
	die "cannot install gpiod in the guest"

# check_lines LED BUTTON: cradled (the unit's main process, user cradle)
# holds line LED of gpiochip0 as an output and line BUTTON as an input
# with the pull-up (gpioinfo) and an edge interrupt (debugfs "IRQ"),
# through the character device; no /dev/gpiomem or /dev/mem mapping.
check_lines() {
	"${SSH[@]}" bash -s "$1" "$2" <<-'EOF'
	set -e
	led=$1 button=$2
	pid=$(systemctl show -p MainPID --value cradled.service)
	[ "$pid" -gt 0 ] || { echo "cradled is not running"; exit 1; }
	user=$(stat -c %U /proc/$pid)
	echo "  cradled pid $pid, user $user; $(stat -c '%n %U:%G %a' /dev/gpiochip0); $(ls /dev/gpiomem 2>&1 | sed 's/^ls: //')"
	[ "$user" = cradle ] || { echo "cradled runs as $user, not cradle"; exit 1; }
	[ "$(stat -c %G:%a /dev/gpiochip0)" = gpio:660 ] || { echo "/dev/gpiochip0 is not group gpio's (60-cradle-gpio.rules)"; exit 1; }
	gpiodetect | grep -q '^gpiochip0 \[pinctrl-bcm2835\]' || { echo "gpiochip0 is not the BCM2835's pin controller"; exit 1; }
	info=$(gpioinfo gpiochip0)
	l=$(echo "$info" | grep -E "^\s+line +$led:"); b=$(echo "$info" | grep -E "^\s+line +$button:")
	echo "  gpioinfo:$l"; echo "  gpioinfo:$b"
	echo "$l" | grep -q "\"cradled@$pid\" output .*\[used" || { echo "line $led is not an output held by cradled@$pid"; exit 1; }
	echo "$b" | grep -q "\"cradled@$pid\" input .*\[used.*pull-up" || { echo "line $button is not an input with the pull-up held by cradled@$pid"; exit 1; }
	dbg=$(grep -E "cradled@$pid" /sys/kernel/debug/gpio)
	echo "$dbg" | sed 's/^/  debugfs:/'
	echo "$dbg" | grep -E "\|cradled@$pid +\) in .*IRQ" >/dev/null || { echo "the button line has no edge interrupt"; exit 1; }
	echo "$dbg" | grep -E "\|cradled@$pid +\) out " >/dev/null || { echo "no output line of cradled in debugfs"; exit 1; }
	ls -l /proc/$pid/fd | grep -q ' /dev/gpiochip0$' || { echo "cradled has no /dev/gpiochip0 open"; exit 1; }
	if grep -E '/dev/(mem|gpiomem)' /proc/$pid/maps; then echo "cradled maps the GPIO registers"; exit 1; fi
	EOF
}

# led_follows NAME LINE SECONDS ON_MS OFF_MS: sample the LED line's value
# in debugfs for SECONDS (bash builtins only: a fork per sample would take
# 50 ms under TCG) and check the lengths of its lit and dark spells and its
# period against the pattern's.
led_follows() {
	"${SSH[@]}" bash -s "$2" "$3" >"$TMP/led-$1.txt" <<-'EOF'
	line=$1; end=$(( ${EPOCHREALTIME%.*} + $2 ))
	while [ "${EPOCHREALTIME%.*}" -lt "$end" ]; do
		mapfile -t a </sys/kernel/debug/gpio
		for l in "${a[@]}"; do
			[[ $l == *"($line "* ]] && { printf '%s %s\n' "$EPOCHREALTIME" "${l##*) }"; break; }
		done
	done
	EOF
	python3 - "$TMP/led-$1.txt" "$1" "$4" "$5" <<-'EOF' || die "the LED line does not follow the $1 pattern"
	import statistics, sys
	path, name, on, off = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
	s = []
	for row in open(path):
	    f = row.split()
	    if len(f) >= 3 and f[1] in ("out", "in"):
	        s.append((float(f[0]), f[2] == "hi"))
	if len(s) < 50:
	    print("  %s: only %d samples" % (name, len(s))); sys.exit(1)
	rate = len(s) / (s[-1][0] - s[0][0])
	edges = [(t, v) for (t, v), (_, p) in zip(s[1:], s) if v != p]
	spells = {True: [], False: []}
	for (t, v), (t2, _) in zip(edges, edges[1:]):
	    spells[v].append((t2 - t) * 1000)
	rises = [t for t, v in edges if v]
	periods = [(b - a) * 1000 for a, b in zip(rises, rises[1:])]
	lit = statistics.median(spells[True]) if spells[True] else 0
	dark = statistics.median(spells[False]) if spells[False] else 0
	period = statistics.median(periods) if periods else 0
	print("  LED %s: %d samples (%.0f/s): lit %.0f ms, dark %.0f ms, period %.0f ms over %d cycles (want %d/%d ms)"
	      % (name, len(s), rate, lit, dark, period, len(periods), on, off))
	ok = (len(periods) >= 2 and abs(lit - on) <= max(60, 0.3 * on)
	      and abs(period - (on + off)) <= max(100, 0.1 * (on + off)))
	sys.exit(0 if ok else 1)
	EOF
}

# restart_with TOML: write the test's drop-in, restart cradled, and wait
# for its new process's "monitor ready" and LED pattern.
restart_with() {
	printf '%s\n' "$1" | "${SSH[@]}" 'cat >/etc/cradle/cradled.d/60-image-test-pi3.toml && systemctl restart cradled.service'
	ready() {
		"${SSH[@]}" 'id=$(systemctl show -p InvocationID --value cradled.service)
			journalctl -o cat _SYSTEMD_INVOCATION_ID=$id | grep -q "monitor ready"'
	}
	wait_for 180 "cradled's restart" ready
	"${SSH[@]}" 'id=$(systemctl show -p InvocationID --value cradled.service)
		journalctl -o cat _SYSTEMD_INVOCATION_ID=$id | grep -E "front panel|GPIO|level=(WARN|ERROR)"' | sed 's/^/  cradled: /' || true
}

echo "GPIO: cradled as started by the image (hw and media auto; no microphone)"
"${SSH[@]}" 'journalctl -b -u cradled.service -o cat | grep -E "front panel|GPIO|simulated"' | sed 's/^/  cradled: /' || true
"${SSH[@]}" 'journalctl -b -u cradled.service -o cat | grep -q "front panel on GPIO.*led=\"gpiochip0 line 17 GPIO17\".*button=\"gpiochip0 line 27 GPIO27\""' ||
	die "cradled (hw auto) did not open its front panel on gpiochip0's lines 17 and 27"
check_lines 17 27 || die "the kernel does not show GPIO17 and GPIO27 held by cradled as they should be"
led_follows error:microphone GPIO17 8 200 1800

echo "GPIO: hw = \"pi\", media = \"test\" (no fault: the ready blip)"
restart_with $'hw = "pi"\nmedia = "test"'
check_lines 17 27 || die "with hw = \"pi\" the kernel does not show GPIO17 and GPIO27 held by cradled"
led_follows ready GPIO17 10 100 2900
"${SSH[@]}" 'cradled pair' | sed 's/^/  /'
led_follows pairing GPIO17 5 500 500

echo "GPIO: by chip and line offsets (gpio_chip = \"gpiochip0\", led_line = 22, button_line = 23)"
restart_with $'hw = "pi"\nmedia = "test"\ngpio_chip = "gpiochip0"\nled_line = 22\nbutton_line = 23'
check_lines 22 23 || die "configured by chip and offsets, the kernel does not show lines 22 and 23 held by cradled"
"${SSH[@]}" 'gpioinfo gpiochip0 | grep -E "^\s+line +(17|27):" | grep -v unused' && die "lines 17 and 27 are still held"
"${SSH[@]}" 'cradled pair' | sed 's/^/  /'
led_follows pairing-line22 GPIO22 5 500 500

kill "$QPID" 2>/dev/null || true
wait "$QPID" 2>/dev/null || true
QPID=""
echo
echo "image-test-pi3: QEMU raspi3b start -> monitor ready $(since "$T0" "$T_READY") s -> paired $(since "$T0" "$T_PAIRED") s -> first audio $(since "$T0" "$T_AUDIO") s (usb-net re-plugged $REPLUGS times)"
echo "image-test-pi3: passed (network on usb0, pairing and the test tone; GPIO17 and GPIO27, then lines 22 and 23 by offset, held by cradled through gpiochip0)"
