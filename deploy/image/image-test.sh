#!/bin/bash
# image-test.sh IMG CRADLE [OLD.deb NEW.deb]: flash to listen, under
# emulation. Boots a scratch copy of the image's own kernel, initrd and
# disk in qemu-system-aarch64 (-M virt) on a tap device inside a network
# namespace this script creates (with dnsmasq as the DHCP server; never the
# host's interfaces), with an emulated sound card (intel-hda, hda-duplex)
# whose input is the nursery: a private PulseAudio server's null sink into
# which a 1 kHz tone plays (SIGNAL_HZ; not the monitor's 440 Hz test
# tone, which it streams when it finds no microphone), and from the host
# side of that namespace:
#
#   1. reads the setup code and room name from the image's boot partition
#      (mtools: what a parent reads on any computer after flashing), and
#      checks the phones' pairing link (cradle-phone.txt: the room's short
#      name, the same code) and its QR code;
#   2. waits for the monitor's "monitor ready"; a phone's path: resolves
#      the card's page name over mDNS, pairs on the page with the card's
#      code (the window of a factory-new monitor is open), hears the
#      nursery's 1 kHz on the page's continuous stream and opens the window again
#      from the page; then finds the monitor by name over mDNS (cradle
#      discover) and pairs a listener with the code, no button;
#   3. listens (cradle listen --output none --record) and checks that the
#      recording is the nursery's 1 kHz, captured by the monitor from the
#      sound card (and not its 440 Hz test tone); prints its level; reads
#      the monitor's sound history (cradle history --json): level records
#      that hear the tone, a noise episode, the connections;
#   4. with OLD.deb and NEW.deb (two versions of the monitor's package,
#      cradled): over SSH (a throw-away key dropped on the scratch card's
#      boot partition, as a parent would), installs the older and then the
#      newer package on the running monitor and checks that its
#      identity, listeners and event log are unchanged and that the listener
#      hears it again without pairing;
#   5. over SSH as well: checks that the guest has the sound card (arecord
#      -l) and that cradled opened it (its log names the ALSA device), that
#      the package's sysctl.d file set the UDP buffer ceilings quic-go
#      asks for (at boot, and again at the package's install after they
#      were lowered) and that cradled never warned about its receive
#      buffer; that cradled runs as user cradle with the
#      groups audio, video and gpio, that its admin socket answers root and
#      group cradle only, that a new setup code (as a factory reset writes
#      it) reaches the card's cradle-setup.txt without a reboot, and that
#      cradled starts from a root-owned /var/lib/cradle (an upgrade from a
#      package that ran it as root) with its pairing; after the upgrade
#      test below, a factory reset's new code reaches the card too;
#   6. checks that first boot wrote the setup payload (with the monitor's
#      fingerprint) and its QR code back to the boot partition, and the
#      monitor's host name to cradle-phone.txt;
#   7. with OLD.deb and NEW.deb: wipes the monitor (cradled wipe --yes),
#      which reboots it, and checks on the disk that the Wi-Fi passphrase
#      (dropped on the card before the first boot), root's SSH key, the
#      host keys, the monitor's state and the card's setup files are gone.
#
# Prints the times from QEMU's start to "monitor ready", to paired and to
# first audio, and the frequency and level the listener heard. Every wait
# is bounded; the whole run by TIMEOUT (default 900 s).
# Needs root (network namespace), qemu-system-arm, qemu-system-gui (QEMU's
# PulseAudio backend), pulseaudio, pulseaudio-utils, dnsmasq-base, mtools,
# fdisk, opus-tools, openssh-client, curl, bind9-dnsutils. CRADLE is the host's cradle binary.
set -eu

[ $# = 2 ] || [ $# = 4 ] || { echo "usage: $0 IMG CRADLE [OLD.deb NEW.deb]" >&2; exit 2; }
IMG=$1
CRADLE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
OLD_DEB=${3:-}
NEW_DEB=${4:-}
TIMEOUT=${TIMEOUT:-900}
# The nursery's sound: a steady tone at SIGNAL_HZ, -15 dBFS RMS (amplitude
# 0.25, as loud as the monitor's test tone), far from the test tone's 440 Hz.
SIGNAL_HZ=${SIGNAL_HZ:-1000}
TEST_TONE_HZ=440
for deb in $OLD_DEB $NEW_DEB; do
	what=$(dpkg-deb --show --showformat='${Package}' "$deb") && [ "$what" = cradled ] ||
		{ echo "image-test.sh: $deb is not the monitor's package (cradled)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "image-test.sh: run as root (it creates a network namespace)" >&2; exit 2; }
for tool in qemu-system-aarch64 dnsmasq mtype mcopy sfdisk opusdec ssh ssh-keygen python3 curl dig debugfs pulseaudio pacat pactl; do
	command -v "$tool" >/dev/null || { echo "image-test.sh: missing $tool (make image-test installs it)" >&2; exit 2; }
done

TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/cradle-image-test.XXXXXX")
NS=cradle-it-$$
QPID="" DPID="" PAPID="" PLAYPID=""
cleanup() {
	rc=$?
	set +e
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$PLAYPID" ] && kill "$PLAYPID" 2>/dev/null && wait "$PLAYPID" 2>/dev/null
	[ -n "$PAPID" ] && kill "$PAPID" 2>/dev/null && wait "$PAPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	if [ $rc != 0 ] && [ -f "$TMP/console.log" ]; then
		cp "$TMP/console.log" "${IMG%.img}.image-test-console.log"
		echo "image-test.sh: FAILED; guest console in ${IMG%.img}.image-test-console.log" >&2
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ME=image-test.sh
. "$(dirname "$0")/image-test-lib.sh"

# ---- 1. What the parent reads on the card ----
read_card "$IMG"
# The phones' page by the room's short name, the code in the link's fragment.
mtype -i "$FAT" ::/cradle-phone.txt | tr -d '\r' >"$TMP/phone.txt" || die "no cradle-phone.txt on the boot partition"
case "$(sed -n 's/^Pairing link: //p' "$TMP/phone.txt")" in
"https://"*".local/#code=${CODE%%-*}${CODE##*-}") ;;
*) die "cradle-phone.txt: the pairing link is not https://<room>.local/#code=<the card's code>" ;;
esac
mdir -b -i "$FAT" ::/ | grep -q 'cradle-phone.png' || die "no cradle-phone.png on the boot partition"
echo "card: the phones' $(sed -n 's/^Page: /page /p' "$TMP/phone.txt") (from cradle-phone.txt), with cradle-phone.png"

cp --sparse=always "$IMG" "$TMP/disk.img"
truncate -s +512M "$TMP/disk.img"
DISK_FAT="$TMP/disk.img@@$((START * 512))"
if [ -n "$OLD_DEB" ]; then
	ssh-keygen -q -t ed25519 -N '' -C image-test -f "$TMP/key"
	cp "$TMP/key.pub" "$TMP/authorized_keys"
	mcopy -i "$DISK_FAT" "$TMP/authorized_keys" ::/authorized_keys
	# The family's Wi-Fi, as a parent drops it (there is no wlan0 under
	# QEMU: it is only moved in, for the wipe to remove at the end).
	printf 'network={\n\tssid="Home"\n\tpsk="image-test-wifi-secret"\n}\n' >"$TMP/wpa_supplicant.conf"
	mcopy -i "$DISK_FAT" "$TMP/wpa_supplicant.conf" ::/wpa_supplicant.conf
fi

# ---- 2. Network namespace, DHCP, QEMU ----
private_lan 192.168.77
L=(--state-dir "$TMP/listener" --name image-test)

# ---- 2a. The nursery: a private PulseAudio server, a tone in its sink ----
# The guest's sound card records the null sink "nursery"'s monitor, into
# which the tone plays without end; its playback goes to "speaker", so
# that nothing the guest plays mixes into the nursery. Root's own
# PulseAudio (if any) is not used: the server, its socket, cookie and state
# are in $TMP.
mkdir -p "$TMP/pulse"
export PULSE_SERVER="unix:$TMP/pulse/native" PULSE_RUNTIME_PATH="$TMP/pulse/run" PULSE_STATE_PATH="$TMP/pulse/state" \
	PULSE_COOKIE="$TMP/pulse/cookie"
cat >"$TMP/pulse/nursery.pa" <<EOF
load-module module-native-protocol-unix socket=$TMP/pulse/native auth-anonymous=1
load-module module-null-sink sink_name=nursery rate=48000 channels=1
load-module module-null-sink sink_name=speaker rate=48000 channels=2
set-default-sink speaker
EOF
HOME="$TMP/pulse" pulseaudio --system=false -n --daemonize=no --exit-idle-time=-1 --use-pid-file=no \
	--disable-shm=yes -F "$TMP/pulse/nursery.pa" >"$TMP/pulse.log" 2>&1 &
PAPID=$!
end=$(( $(date +%s) + 20 ))
until pactl list short sinks 2>/dev/null | grep -q nursery; do
	kill -0 "$PAPID" 2>/dev/null || die "pulseaudio exited: $(tail -n 5 "$TMP/pulse.log")"
	[ "$(date +%s)" -lt "$end" ] || die "pulseaudio did not start within 20 s: $(tail -n 5 "$TMP/pulse.log")"
	sleep 0.2
done
cat >"$TMP/tone.py" <<'EOF'
import math, struct, sys
hz, rate = float(sys.argv[1]), 48000
second = struct.pack("<%dh" % rate, *(int(0.25 * 32767 * math.sin(2 * math.pi * hz * i / rate)) for i in range(rate)))
out = sys.stdout.buffer
while True:
    out.write(second)
EOF
python3 "$TMP/tone.py" "$SIGNAL_HZ" 2>/dev/null |
	pacat --playback --device=nursery --format=s16le --rate=48000 --channels=1 --latency-msec=100 2>"$TMP/pacat.log" &
PLAYPID=$!
# The tone is in the sink: recorded from its monitor on the host first.
end=$(( $(date +%s) + 20 ))
until pactl list short sink-inputs 2>/dev/null | grep -q .; do
	kill -0 "$PLAYPID" 2>/dev/null || die "pacat exited: $(cat "$TMP/pacat.log")"
	[ "$(date +%s)" -lt "$end" ] || die "pacat did not connect within 20 s"
	sleep 0.2
done
sleep 0.5
{ timeout 10 parec --latency-msec=20 --device=nursery.monitor --format=s16le --rate=48000 --channels=1 2>/dev/null || true; } | head -c 192000 >"$TMP/nursery.raw" # 2 s
NURSERY=$(python3 - "$TMP/nursery.raw" "$SIGNAL_HZ" <<-'EOF'
	import math, struct, sys
	b = open(sys.argv[1], "rb").read()[48000:]  # past the first half second
	n = len(b) // 2
	x = struct.unpack("<%dh" % n, b[:2 * n])
	rms = math.sqrt(sum(v * v for v in x) / max(n, 1)) / 32768
	print("%s Hz at %.1f dBFS" % (sys.argv[2], 20 * math.log10(max(rms, 1e-9))))
	sys.exit(0 if n > 12000 and rms > 0.1 else 1)
	EOF
) || die "the nursery's sink does not carry the $SIGNAL_HZ Hz tone ($(stat -c %s "$TMP/nursery.raw") bytes recorded; pacat: $(cat "$TMP/pacat.log"); pulseaudio: $(tail -n 3 "$TMP/pulse.log"))"
echo "nursery: $NURSERY in PulseAudio's null sink \"nursery\" (the sound card's input)"

T0=$(now)
timeout --kill-after=10 "$TIMEOUT" ip netns exec "$NS" qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2 -m 1024 \
	-nographic -no-reboot -monitor none -serial stdio \
	-audiodev "pa,id=snd0,server=$PULSE_SERVER,in.name=nursery.monitor,out.name=speaker" \
	-device intel-hda -device hda-duplex,audiodev=snd0 \
	-kernel "$TMP/vmlinuz" -initrd "$TMP/initrd" \
	-append "root=LABEL=ROOT rootwait console=ttyAMA0 net.ifnames=0 systemd.journald.forward_to_console=1" \
	-drive "file=$TMP/disk.img,format=raw,if=virtio" \
	-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,romfile= \
	</dev/null >"$TMP/console.log" 2>&1 &
QPID=$!
echo "qemu started (virt, cortex-a57, TCG, intel-hda sound card recording the nursery); guest console: $TMP/console.log"

wait_for 400 '"monitor ready" on the console' grep -q 'monitor ready' "$TMP/console.log"
T_READY=$(now)
echo "monitor ready      $(since "$T0" "$T_READY") s after QEMU start"

# check_signal NAME OGG: the recording decodes and is the nursery's tone:
# its dominant frequency (searched from 100 Hz to 4 kHz) is SIGNAL_HZ, the
# test tone's 440 Hz is at least 30 dB below it (exit 2 when the monitor
# streamed its test tone instead), and its level is above -40 dBFS. Prints
# the frequency and the RMS level (dBFS) of half a second past the middle
# and sets HEARD to them.
check_signal() {
	opusdec --quiet --rate 48000 "$2" "$TMP/$1.wav" 2>/dev/null || die "the recording does not decode"
	local rc=0
	python3 - "$TMP/$1.wav" "$SIGNAL_HZ" "$TEST_TONE_HZ" >"$TMP/$1.heard" <<-'EOF' || rc=$?
	import math, struct, sys, wave
	w = wave.open(sys.argv[1]); rate = w.getframerate(); n = w.getnframes()
	want, tone = float(sys.argv[2]), float(sys.argv[3])
	pcm = struct.unpack("<%dh" % (n * w.getnchannels()), w.readframes(n))[::w.getnchannels()]
	secs = n / rate
	mid = pcm[n // 2: n // 2 + rate // 2]          # half a second past the middle
	def power(f, seg):                             # Goertzel
	    c = 2 * math.cos(2 * math.pi * f / rate); s1 = s2 = 0.0
	    for x in seg:
	        s1, s2 = x + c * s1 - s2, s1
	    return max(s1 * s1 + s2 * s2 - c * s1 * s2, 1e-9)
	coarse = max(range(100, 4001, 20), key=lambda f: power(f, mid[:rate // 20]))   # 50 ms: 20 Hz bins
	best = max(range(coarse - 30, coarse + 31), key=lambda f: power(f, mid))        # 0.5 s: 2 Hz bins
	rms = math.sqrt(sum(x * x for x in mid) / max(len(mid), 1)) / 32768
	db = 20 * math.log10(max(rms, 1e-9))
	tone_db = 10 * math.log10(power(tone, mid) / power(best, mid))
	if abs(best - tone) <= 5:
	    print("%d Hz at %.1f dBFS (the monitor's test tone), %.1f s recorded" % (best, db, secs))
	    sys.exit(2)
	print("%d Hz at %.1f dBFS (the test tone's %d Hz %.0f dB below it), %.1f s recorded" % (best, db, tone, -tone_db, secs))
	sys.exit(0 if abs(best - want) <= 5 and tone_db <= -30 and db > -40 and secs > 3 else 1)
	EOF
	HEARD=$(cat "$TMP/$1.heard")
	echo "  heard $HEARD"
	case $rc in
	0) ;;
	2) die "heard the monitor's $TEST_TONE_HZ Hz test tone, not the nursery's $SIGNAL_HZ Hz: it did not capture the sound card" ;;
	*) die "the recording is not the nursery's $SIGNAL_HZ Hz tone (heard $HEARD)" ;;
	esac
}

# ---- 3a. A phone's path: the page by its .local name, the card's code ----
# A phone with only a browser: the name from cradle-phone.txt (its address
# from the monitor's mDNS responder), the certificate accepted (-k,
# trust on first use), pairing with the card's code through the factory-
# new window, then the nursery as the page's continuous stream.
PHONE_HOST=$(sed -n 's|^Page: https://\([^/:]*\).*|\1|p' "$TMP/phone.txt")
# The name is resolved over mDNS by asking the monitor (its address from
# the DHCP lease) with dig's QU bit, as phones' resolvers may: hashicorp's
# responder answers that query unicast (a multicast query from dig's own
# port gets its answer on the multicast group, which dig does not read).
guest_ip() { awk '{print $3}' "$TMP/leases" | head -n 1; }
resolve_phone() {
	local ip
	ip=$(inns dig +notcp +time=2 +tries=1 +short -p 5353 "@$(guest_ip)" -c CLASS32769 -t A -q "$PHONE_HOST" | grep -E '^[0-9.]+$' | head -n 1)
	[ -n "$ip" ] && echo "$ip"
}
wait_for 120 "mDNS address of $PHONE_HOST" resolve_phone
PHONE_IP=$(resolve_phone)
[ "$PHONE_IP" = "$(guest_ip)" ] || die "$PHONE_HOST resolves to $PHONE_IP, the guest is $(guest_ip)"
echo "phone: $PHONE_HOST is $PHONE_IP (mDNS)"
PHONE=(ip netns exec "$NS" curl -sS -k --max-time 20 --resolve "$PHONE_HOST:443:$PHONE_IP" -b "$TMP/phone.jar" -c "$TMP/phone.jar")
PAGE_URL="https://$PHONE_HOST"
wait_for 60 "the phones' page on $PAGE_URL" "${PHONE[@]}" -o /dev/null -f "$PAGE_URL/"
"${PHONE[@]}" -f -o "$TMP/phone-pair.json" -H 'Content-Type: application/json' -H "Origin: $PAGE_URL" \
	--data "{\"name\":\"image-test phone\",\"code\":\"$CODE\"}" "$PAGE_URL/api/devices/pair" ||
	die "the phone could not pair on the page: $(cat "$TMP/phone-pair.json" 2>/dev/null)"
T_PHONE=$(now)
echo "phone paired       $(since "$T0" "$T_PHONE") s ($(cat "$TMP/phone-pair.json"))"
"${PHONE[@]}" -N --max-time 5 -o "$TMP/phone-events.txt" "$PAGE_URL/api/events" 2>/dev/null || true # ends at --max-time
MON_ID=$(grep -o '"monitors":\[{"id":"[^"]*"' "$TMP/phone-events.txt" | head -n 1 | sed 's/.*"id":"//; s/"$//')
[ -n "$MON_ID" ] || die "the phone's page shows no monitor: $(head -c 400 "$TMP/phone-events.txt")"
"${PHONE[@]}" --max-time 10 -o "$TMP/phone.ogg" "$PAGE_URL/api/monitors/$MON_ID/audio.ogg" 2>/dev/null || true # ends at --max-time
check_signal phone "$TMP/phone.ogg"
PHONE_HEARD=$HEARD
echo "phone heard the nursery's $SIGNAL_HZ Hz on the page's stream"
# A pairing closes the window: the phone's page opens it again ("Add a
# phone"), for the listener below.
"${PHONE[@]}" -f -o /dev/null -H 'Content-Type: application/json' -H "Origin: $PAGE_URL" --data '{}' \
	"$PAGE_URL/api/monitors/$MON_ID/pairing/open" || die "the phone's page could not open pairing"

# ---- 3. Discover by name, pair with the card's code (no button) ----
found() { inns "$CRADLE" "${L[@]}" discover --timeout 2s | grep -F -- "$ROOM"; }
wait_for 120 "mDNS answer for \"$ROOM\"" found
inns "$CRADLE" "${L[@]}" discover --timeout 2s | sed 's/^/  /'
T_FOUND=$(now)
echo "found over mDNS    $(since "$T0" "$T_FOUND") s"
end=$(( $(date +%s) + 120 ))
while :; do
	rc=0
	inns "$CRADLE" "${L[@]}" pair "$ROOM" --code "$CODE" --timeout 30s >"$TMP/pair.out" 2>&1 || rc=$?
	[ $rc = 0 ] && break
	cat "$TMP/pair.out" >&2
	[ $rc = 4 ] && die "pairing refused: the window of a factory-new monitor was not open"
	[ "$(date +%s)" -lt "$end" ] || die "could not pair within 120 s (exit $rc)"
	sleep 1
done
T_PAIRED=$(now)
sed 's/^/  /' "$TMP/pair.out"
echo "paired             $(since "$T0" "$T_PAIRED") s"

# ---- 4. Listen: the nursery's tone, through the sound card ----
# listen_check NAME OGG: listen for 8 s, print when the first audio came,
# check the recording is the nursery's tone (check_signal).
listen_check() {
	inns timeout 60 "$CRADLE" "${L[@]}" listen "$ROOM" --output none --record "$2" --duration 8s >"$TMP/$1.out" 2>&1 ||
		{ cat "$TMP/$1.out" >&2; die "cradle listen failed"; }
	line=$(grep -m1 'first audio' "$TMP/$1.out") || { cat "$TMP/$1.out" >&2; die "no audio"; }
	FIRST_AUDIO=$(date -d "$(echo "$line" | cut -d' ' -f1)" +%s.%N)
	check_signal "$1" "$2"
}
listen_check listen1 "$TMP/first.ogg"
grep -E 'online|stream connected|first audio' "$TMP/listen1.out" | sed 's/^/  /'
T_AUDIO=$FIRST_AUDIO
LISTEN_HEARD=$HEARD
echo "first audio        $(since "$T0" "$T_AUDIO") s"
# ---- 4b. The night's history: the image's cradled kept what it heard ----
# The nursery's tone (-15 dBFS, above the noise threshold) has played since
# boot: the history holds level records and a noise episode going on, and
# the connections that listened; read back as a parent would.
inns "$CRADLE" "${L[@]}" history "$ROOM" --since 1h --json >"$TMP/history.json" 2>"$TMP/history.err" ||
	{ cat "$TMP/history.err" >&2; die "cradle history failed"; }
python3 - "$TMP/history.json" <<'PY' || die "the monitor's history is not what it heard (above)"
import json, sys
h = json.load(open(sys.argv[1]))
mins, eps, conns = h["minutes"], h["episodes"], h["connections"]
print("history: %d level records (loudest %.1f dBFS), %d episode(s), %d connection(s); %s" % (
    len(mins), max([m["max_dbfs"] for m in mins] or [-120]), len(eps), len(conns), h["summary"]["text"]))
assert mins, "no level record"
assert max(m["max_dbfs"] for m in mins) > -25, "the level records do not hear the nursery's tone"
assert eps, "no noise episode for the nursery's tone"
assert conns, "no connection recorded"
PY
# What the monitor says of its microphone (journald forwards its log to
# the console; checked over SSH below).
grep -a -o 'msg="media: [^"]*microphone[^"]*" [a-z]*="[^"]*"' "$TMP/console.log" | head -n 3 | sed 's/^/  cradled: /' || true

# ---- 5. Upgrade in the running guest: trust survives ----
if [ -n "$OLD_DEB" ]; then
	IP=$(awk '{print $3}' "$TMP/leases" | head -n 1)
	[ -n "$IP" ] || die "no DHCP lease for the guest"
	SSH=(ip netns exec "$NS" ssh -i "$TMP/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
		-o LogLevel=ERROR -o ConnectTimeout=10 -o BatchMode=yes "root@$IP")
	wait_for 120 "SSH on the guest ($IP)" "${SSH[@]}" true
	inns scp -q -i "$TMP/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		"$OLD_DEB" "$NEW_DEB" "root@$IP:/tmp/"
	# snapshot: the monitor's identity, listeners and event log.
	snapshot() {
		"${SSH[@]}" 'for i in $(seq 60); do cradled events --json >/tmp/ev.json 2>/dev/null && break; sleep 1; done;
			cradled id; cradled listeners --json | grep -i fingerprint; cat /tmp/ev.json' >"$1"
	}
	# cradled runs as user cradle, with the device groups; its admin socket
	# is for root and group cradle; the GPIO chips (QEMU's virt has one) are
	# group gpio's (60-cradle-gpio.rules); no device ACL (DeviceAllow=).
	"${SSH[@]}" 'set -e
		pid=$(systemctl show -p MainPID --value cradled.service)
		echo "  cradled (pid $pid) runs as $(stat -c %U:%G /proc/$pid), groups$(for g in $(sed -n "s/^Groups://p" /proc/$pid/status); do printf " %s" "$(getent group $g | cut -d: -f1)"; done)"
		[ "$(stat -c %U:%G /proc/$pid)" = cradle:cradle ]
		for g in audio video gpio; do
			sed -n "s/^Groups://p" /proc/$pid/status | tr -s "\t " "\n\n" | grep -qx "$(getent group $g | cut -d: -f3)"
		done
		[ "$(systemctl show -p DevicePolicy --value cradled.service)" = auto ]
		[ -z "$(systemctl show -p DeviceAllow --value cradled.service)" ]
		echo "  admin socket: $(stat -c "%n %U:%G %a" /run/cradle/cradled.sock)"
		[ "$(stat -c %U:%G:%a /run/cradle/cradled.sock)" = cradle:cradle:660 ]
		setpriv --reuid=nobody --regid=cradle --clear-groups cradled status >/dev/null
		if setpriv --reuid=nobody --regid=nogroup --clear-groups cradled status >/dev/null 2>&1; then exit 1; fi
		echo "  cradled status works for root and group cradle, not for others"
		for c in /dev/gpiochip*; do
			[ -e "$c" ] || continue
			echo "  $(stat -c "%n %U:%G %a" "$c")"
			[ "$(stat -c %G:%a "$c")" = gpio:660 ]
		done
		[ -z "$(find /var/lib/cradle ! -user cradle)" ]
		journalctl -b -u cradled.service -o cat | grep -E "level=(WARN|ERROR)|GPIO" | sed "s/^/  cradled: /" || true' ||
		die "cradled does not run as user cradle, or its admin socket or devices are wrong"

	# The sound card (QEMU's hda-duplex, snd-hda-intel) and the capture
	# device cradled opened on it; never the test tone.
	"${SSH[@]}" 'set -e
		arecord -l | grep "^card" | sed "s/^/  arecord -l: /"
		arecord -l | grep -q "^card"
		journalctl -b -u cradled.service -o cat | grep "media: .*microphone" | head -n 2 | sed "s/^/  cradled: /"
		journalctl -b -u cradled.service -o cat | grep -q "media: microphone on.*source=\"ALSA "
		if journalctl -b -u cradled.service -o cat | grep -q "no microphone"; then exit 1; fi' ||
		die "the guest has no sound card, or cradled did not open it (it streams its test tone)"

	# The package's sysctl.d file: systemd-sysctl set the UDP buffer
	# ceilings at boot, before cradled started, so quic-go got the 7 MiB
	# buffers it asks for and did not warn.
	QUIC_WARNING='increase \(receive\|send\) buffer size'
	"${SSH[@]}" "set -e
		echo \"  \$(sysctl net.core.rmem_max | tr -d ' '), \$(sysctl net.core.wmem_max | tr -d ' ') (\$(ls /usr/lib/sysctl.d/60-cradled.conf)); udp_mem \$(sysctl -n net.ipv4.udp_mem | tr -s '\t ' ' ') pages; MemTotal \$(awk '/MemTotal/ {print \$2}' /proc/meminfo) kB\"
		[ \"\$(sysctl -n net.core.rmem_max)\" = 7500000 ] && [ \"\$(sysctl -n net.core.wmem_max)\" = 7500000 ]
		echo \"  cradled's QUIC socket (UDP 48080): \$(ss -uamnH 'sport = :48080' | grep -o 'skmem:([^)]*)' | head -n 1) (rb, tb: the kernel's limits on its queued bytes)\"
		if journalctl -b -u cradled.service -o cat | grep '$QUIC_WARNING'; then exit 1; fi" ||
		die "at boot the UDP buffer ceilings are not the package's 7500000, or quic-go warned about its buffers"
	echo "  quic-go's UDP buffers: no warning since boot"

	# A factory reset writes a new setup code (atomically, as user cradle):
	# cradle-setup-card.path rewrites the card with it, without a reboot.
	# The old code is put back afterwards, the same way.
	card_code() { "${SSH[@]}" "sed -n 's/^Setup code: //p' /boot/firmware/cradle-setup.txt"; }
	set_code() {
		"${SSH[@]}" "setpriv --reuid=cradle --regid=cradle --clear-groups sh -c 'umask 077; printf \"%s\\n\" $1 >/var/lib/cradle/.setup-code.new && mv -f /var/lib/cradle/.setup-code.new /var/lib/cradle/setup-code'"
	}
	OLD_STATE_CODE=$("${SSH[@]}" 'cat /var/lib/cradle/setup-code')
	NEW_CODE=$(python3 -c 'import random, sys
while True:
    c = "%08d" % random.randrange(10**8)
    if c != sys.argv[1] and int(c) % 11111111 and c not in ("12345678", "87654321"):
        print(c); break' "$OLD_STATE_CODE")
	PNG_BEFORE=$("${SSH[@]}" 'md5sum </boot/firmware/cradle-setup.png')
	for code in "$NEW_CODE" "$OLD_STATE_CODE"; do
		set_code "$code"
		T_CODE=$(now)
		want="${code:0:4}-${code:4:4}"
		card_has() { [ "$(card_code)" = "$want" ]; }
		wait_for 60 "setup code ${want:0:4}-XXXX on the card" card_has
		echo "  setup code changed to ${want:0:4}-XXXX: on cradle-setup.txt $(since "$T_CODE") s later"
	done
	[ "$("${SSH[@]}" 'md5sum </boot/firmware/cradle-setup.png')" = "$PNG_BEFORE" ] ||
		die "cradle-setup.png differs after the code was put back"
	"${SSH[@]}" 'journalctl -b -u cradle-setup-card.service -o cat | grep "cradled provision" | tail -n 1' | sed 's/^/  /'
	[ -z "$("${SSH[@]}" 'find /var/lib/cradle ! -user cradle')" ] || die "files in /var/lib/cradle not owned by cradle after the card was rewritten"

	snapshot "$TMP/before"
	# The upgrade from a package whose cradled ran as root: the state
	# directory was root's; systemd hands it to cradle at the start
	# (StateDirectory=). Then files that root made in it while it was
	# cradle's (a root `cradled id` while the monitor was stopped): systemd
	# skips a directory it owns, cradled.service's ExecStartPre hands them
	# over. The pairing survives (checked after the upgrades). The card's
	# path unit is stopped meanwhile: it would chown the files itself.
	"${SSH[@]}" 'set -e; systemctl stop cradle-setup-card.path
		for how in tree files; do
			systemctl stop cradled.service
			if [ $how = tree ]; then chown -R root:root /var/lib/cradle
			else find /var/lib/cradle -mindepth 1 -exec chown root:root {} +; fi
			systemctl start cradled.service
			systemctl is-active -q cradled.service
			[ -z "$(find /var/lib/cradle ! -user cradle -o ! -group cradle)" ]
		done
		systemctl start cradle-setup-card.path' ||
		die "cradled did not start as cradle from a root-owned /var/lib/cradle, or from root-owned files in it"
	echo "a root-owned /var/lib/cradle (an upgrade from cradled as root), then root-owned files in it: cradled starts, all cradle's again"
	# The ceilings lowered to the kernel's default (as before this
	# package had its sysctl.d file): a restarted cradled warns, as it did
	# at every start. Then the package's install (its postinst) sets them
	# again before it restarts cradled, which no longer warns.
	"${SSH[@]}" "set -e; sysctl -q -w net.core.rmem_max=212992 net.core.wmem_max=212992
		t=\$(date +%s); systemctl restart cradled.service
		for i in \$(seq 60); do journalctl -u cradled.service --since=@\$t -o cat | grep -q '$QUIC_WARNING' && break; sleep 0.5; done
		journalctl -u cradled.service --since=@\$t -o cat | grep -m 1 '$QUIC_WARNING' | sed 's/^/  ceilings at 212992, cradled: /'" ||
		die "with the kernel's default UDP buffer ceilings, cradled did not warn (is the check blind?)"
	SYSCTL_MARK=$("${SSH[@]}" 'sleep 1; date +%s')
	for deb in "$OLD_DEB" "$NEW_DEB"; do
		echo "apt install $(basename "$deb") in the guest"
		"${SSH[@]}" "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades /tmp/$(basename "$deb") 2>&1 | tail -n 2;
			dpkg-query -W cradled; systemctl is-active cradled; sysctl net.core.rmem_max net.core.wmem_max | tr -d ' '" | sed 's/^/  /'
	done
	"${SSH[@]}" "set -e
		[ \"\$(sysctl -n net.core.rmem_max)\" = 7500000 ] && [ \"\$(sysctl -n net.core.wmem_max)\" = 7500000 ]
		if journalctl -u cradled.service --since=@$SYSCTL_MARK -o cat | grep '$QUIC_WARNING'; then exit 1; fi" ||
		die "the package's install did not set the UDP buffer ceilings again, or cradled warned after it"
	echo "  the install set the UDP buffer ceilings again (postinst); cradled restarted without quic-go's warning"
	snapshot "$TMP/after"
	python3 - "$TMP/before" "$TMP/after" <<-'EOF' || die "the upgrade changed the monitor's identity, listeners or event log"
	import json, sys
	def parse(p):
	    text = open(p).read()
	    head, _, events = text.partition("[")
	    return head, json.loads("[" + events)
	h1, e1 = parse(sys.argv[1]); h2, e2 = parse(sys.argv[2])
	assert h1 == h2, "identity or listeners changed:\n%s\n%s" % (h1, h2)
	assert e2[:len(e1)] == e1, "the event log before the upgrade is not a prefix of the one after"
	print("  identity and listeners unchanged; event log: %d events before, %d after (the first %d identical)" % (len(e1), len(e2), len(e1)))
	EOF
	listen_check listen2 "$TMP/second.ogg"
	echo "  after the upgrade the listener hears the monitor again without pairing"
	# A factory reset: the monitor makes a new setup code; the card shows
	# it within seconds, without a reboot, and it is cradled setup-code's.
	BEFORE_RESET=$(card_code)
	"${SSH[@]}" 'cradled reset --yes' | sed 's/^/  /'
	T_RESET=$(now)
	card_renewed() { c=$(card_code) && [ -n "$c" ] && [ "$c" != "$BEFORE_RESET" ]; }
	wait_for 60 "a new setup code on the card after the factory reset" card_renewed
	RESET_CODE=$(card_code)
	[ "$("${SSH[@]}" 'cradled setup-code' | sed -n 's/^Setup code: //p')" = "$RESET_CODE" ] ||
		die "after the factory reset the card's code is not the monitor's (cradled setup-code)"
	echo "  factory reset: the new setup code ${RESET_CODE:0:4}-XXXX is on cradle-setup.txt $(since "$T_RESET") s later, as cradled setup-code says"
	# What first boot wrote on the card (checked in 6), read before the
	# wipe below clears it.
	"${SSH[@]}" 'cat /boot/firmware/cradle-setup.txt' >"$TMP/setup-after.txt"
	"${SSH[@]}" 'cat /boot/firmware/cradle-phone.txt' >"$TMP/phone-after.txt"
	"${SSH[@]}" 'ls /boot/firmware' >"$TMP/boot-ls.txt"
	[ -n "$("${SSH[@]}" 'grep -l image-test-wifi-secret /etc/wpa_supplicant/wpa_supplicant-wlan0.conf')" ] ||
		die "first boot did not move the card's wpa_supplicant.conf in"
	# ---- 7. The wipe, for giving the monitor away ----
	# cradled wipe: the monitor stops, the unit's ExecStopPost hook
	# (cradle-wipe) clears the card and reboots (QEMU runs with
	# -no-reboot: it exits); the disk is checked after it.
	OLD_ID=$("${SSH[@]}" 'cradled id')
	"${SSH[@]}" 'cradled wipe --yes' | sed 's/^/  /'
	T_WIPE=$(now)
	timeout 120 tail --pid="$QPID" -f /dev/null 2>/dev/null || die "the guest did not reboot within 120 s of cradled wipe"
	echo "  cradled wipe: the guest rebooted $(since "$T_WIPE") s later"
	grep -q 'cradle-wipe: done' "$TMP/console.log" || die "cradle-wipe did not run (no 'cradle-wipe: done' on the console)"
else
	kill "$QPID" 2>/dev/null || true
fi

# ---- 6. First boot wrote the payload and QR code back to the card ----
timeout 120 tail --pid="$QPID" -f /dev/null 2>/dev/null || kill "$QPID" 2>/dev/null || true
wait "$QPID" 2>/dev/null || true
QPID=""
if [ -z "$OLD_DEB" ]; then
	mtype -i "$DISK_FAT" ::/cradle-setup.txt | tr -d '\r' >"$TMP/setup-after.txt"
	mtype -i "$DISK_FAT" ::/cradle-phone.txt | tr -d '\r' >"$TMP/phone-after.txt"
	mdir -b -i "$DISK_FAT" ::/ | sed 's|^::/||' >"$TMP/boot-ls.txt"
fi
PAYLOAD=$(sed -n 's/^Setup payload: \(CR:[A-Z2-7]*\)$/\1/p' "$TMP/setup-after.txt")
[ -n "$PAYLOAD" ] || die "first boot did not write the setup payload to cradle-setup.txt"
grep -q 'cradle-setup.png' "$TMP/boot-ls.txt" || die "first boot did not write cradle-setup.png"
PAYLOAD_ID=$(python3 -c 'import base64,sys; b=sys.argv[1][3:-1]; raw=base64.b32decode(b+"="*(-len(b)%8)); print(base64.b32encode(raw[1:33]).decode()[:7])' "$PAYLOAD")
PAIRED_ID=$("$CRADLE" "${L[@]}" monitors --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["device_id"])')
[ "$PAYLOAD_ID" = "$PAIRED_ID" ] || die "the card's payload names device $PAYLOAD_ID, the paired monitor is $PAIRED_ID"
echo "card after first boot: setup payload for device $PAYLOAD_ID (the paired monitor) and cradle-setup.png"
PAGE=$(sed -n 's/^Page: //p' "$TMP/phone-after.txt")
case "$PAGE" in
"https://"*"-$(echo "$PAYLOAD_ID" | tr 'A-Z' 'a-z').local/") echo "card after first boot: the phones' page $PAGE" ;;
*) die "first boot did not write the monitor's host name to cradle-phone.txt (page $PAGE)" ;;
esac
if [ -n "$OLD_DEB" ] && mdir -b -i "$DISK_FAT" ::/ | grep -q authorized_keys; then
	die "authorized_keys was left on the boot partition"
fi

# ---- 7 (continued). After the wipe: nothing of the family on the card ----
if [ -n "$OLD_DEB" ]; then
	for f in wpa_supplicant.conf authorized_keys cradle-setup.txt cradle-setup.png cradle-phone.txt cradle-phone.png cradle-name.txt; do
		if mdir -b -i "$DISK_FAT" ::/ | sed 's|^::/||' | grep -qx "$f"; then
			die "after the wipe $f is still on the boot partition"
		fi
	done
	# The root file system, read with debugfs from its partition.
	ROOT_START=$(sfdisk -d "$TMP/disk.img" | grep ': start=' | sed -n '2s/.*start= *\([0-9]*\).*/\1/p')
	ROOT_SIZE=$(sfdisk -d "$TMP/disk.img" | grep ': start=' | sed -n '2s/.*size= *\([0-9]*\).*/\1/p')
	dd if="$TMP/disk.img" of="$TMP/root.img" bs=512 skip="$ROOT_START" count="$ROOT_SIZE" conv=sparse status=none
	dbg() { debugfs -R "$1" "$TMP/root.img" 2>&1; }
	for f in /root/.ssh/authorized_keys /etc/ssh/ssh_host_ed25519_key /etc/cradle/cradled.d/50-boot-partition.toml; do
		dbg "stat $f" | grep -q 'File not found' || die "after the wipe $f is still on the root file system"
	done
	# (positive controls first: debugfs reads this file system)
	dbg "stat /etc/wpa_supplicant/wpa_supplicant-wlan0.conf" | grep -q 'Inode:' ||
		die "cannot read the root file system's Wi-Fi settings after the wipe"
	dbg "cat /etc/wpa_supplicant/wpa_supplicant-wlan0.conf" >"$TMP/wifi-after.txt"
	grep -q image-test-wifi-secret "$TMP/wifi-after.txt" &&
		die "after the wipe the Wi-Fi passphrase is still in /etc/wpa_supplicant"
	grep -q 'ctrl_interface' "$TMP/wifi-after.txt" || die "after the wipe the Wi-Fi settings are not the image's placeholder"
	dbg "ls -p /var/lib/cradle" | grep -q '/\.\./' || die "cannot list /var/lib/cradle after the wipe"
	LEFT=$(dbg "ls -p /var/lib/cradle" | awk -F/ 'NF > 5 && $6 != "." && $6 != ".." {print $6}')
	[ -z "$LEFT" ] || die "after the wipe /var/lib/cradle still holds: $LEFT"
	echo "wipe: no Wi-Fi passphrase, SSH key or host key, setup or room file on the card or in the root file system; /var/lib/cradle empty (the monitor was $OLD_ID; first boot makes a new one)"
fi

echo
echo "image-test: QEMU start -> monitor ready $(since "$T0" "$T_READY") s -> paired $(since "$T0" "$T_PAIRED") s -> first audio $(since "$T0" "$T_AUDIO") s"
echo "image-test: the nursery played $NURSERY into the sound card; the listener heard $LISTEN_HEARD; the phone's page stream $PHONE_HEARD"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 120 else 1)' "$(since "$T0" "$T_AUDIO")" &&
	echo "image-test: first audio within 2 minutes of power-on: yes" ||
	echo "image-test: first audio within 2 minutes of power-on: NO (goal missed)"
