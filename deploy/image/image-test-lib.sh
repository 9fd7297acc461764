# image-test-lib.sh: what image-test.sh (QEMU virt) and image-test-pi3.sh
# (QEMU raspi3b) share; sourced by both, after they set ME (their name, for
# messages), TMP, NS and QPID (empty until QEMU runs).

now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) - float(sys.argv[2])))" "${2:-$(now)}" "$1"; }
die() { echo "$ME: $*" >&2; exit 1; }
export MTOOLS_SKIP_CHECK=1

# read_card IMG: what a parent reads on the card's boot partition. Sets
# START (its first sector), FAT (its mtools address), CODE and ROOM, and
# copies the kernel and initrd to $TMP/vmlinuz and $TMP/initrd.
read_card() {
	START=$(sfdisk -d "$1" | grep ': start=' | sed -n '1s/.*start= *\([0-9]*\).*/\1/p')
	FAT="$1@@$((START * 512))"
	mtype -i "$FAT" ::/cradle-setup.txt | tr -d '\r' >"$TMP/setup.txt" || die "no cradle-setup.txt on the boot partition"
	CODE=$(sed -n 's/^Setup code: \([0-9]\{4\}-[0-9]\{4\}\)$/\1/p' "$TMP/setup.txt")
	ROOM=$(mtype -i "$FAT" ::/cradle-name.txt | tr -d '\r' | grep -v '^#' | grep -v '^[[:space:]]*$' | head -n 1)
	[ -n "$CODE" ] || die "no setup code in cradle-setup.txt"
	[ -n "$ROOM" ] || die "no room name in cradle-name.txt"
	echo "card: room \"$ROOM\", setup code ${CODE%%-*}-XXXX (from cradle-setup.txt)"
	local kernel initrd
	kernel=$(mdir -b -i "$FAT" ::/ | sed 's|^::/||' | grep '^vmlinuz-' | head -n 1)
	initrd=$(mdir -b -i "$FAT" ::/ | sed 's|^::/||' | grep '^initrd.img-' | head -n 1)
	mcopy -i "$FAT" "::/$kernel" "$TMP/vmlinuz"
	mcopy -i "$FAT" "::/$initrd" "$TMP/initrd"
}

# private_lan PREFIX: the network namespace $NS with a tap device, tap0, at
# PREFIX.1/24 (multicast on: mDNS) and dnsmasq handing out PREFIX.10-50
# (leases in $TMP/leases). Never the host's interfaces. Sets DPID.
private_lan() {
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	ip -n "$NS" tuntap add dev tap0 mode tap
	ip -n "$NS" addr add "$1.1/24" dev tap0
	ip -n "$NS" link set tap0 up multicast on
	ip -n "$NS" route add 224.0.0.0/4 dev tap0
	ip netns exec "$NS" dnsmasq --no-daemon --interface=tap0 --bind-interfaces \
		--dhcp-range="$1.10,$1.50,1h" --dhcp-leasefile="$TMP/leases" \
		--no-resolv --no-hosts --port=0 >"$TMP/dnsmasq.log" 2>&1 &
	DPID=$!
}
inns() { ip netns exec "$NS" "$@"; }

# wait_for SECONDS DESC CMD...: poll CMD every half second.
wait_for() {
	local limit=$1 desc=$2; shift 2
	local end=$(( $(date +%s) + limit ))
	until "$@" >/dev/null 2>&1; do
		kill -0 "$QPID" 2>/dev/null || die "qemu exited while waiting for $desc"
		[ "$(date +%s)" -lt "$end" ] || die "no $desc within $limit s"
		sleep 0.5
	done
}
