#!/bin/bash
# qemu-boot.sh OUT.img: boot the image's own kernel and initrd in
# qemu-system-aarch64 (-M virt, emulated: no Pi hardware, no Pi firmware) on
# a scratch copy of the image grown by 512 MiB, and wait until systemd has
# started cradled.service and the first-boot step has grown the root
# partition. Exits 0 when both are seen, 1 otherwise. Takes a few minutes
# under emulation; hard limit TIMEOUT seconds (default 600).
#
# This checks the root file system, the initramfs (finds LABEL=ROOT), the
# systemd units and Cradle's service; it does NOT check the Pi firmware,
# config.txt or the device trees (QEMU boots the kernel directly).
set -eu

[ $# = 1 ] || { echo "usage: $0 OUT.img" >&2; exit 2; }
IMG=$1
TIMEOUT=${TIMEOUT:-600}
command -v qemu-system-aarch64 >/dev/null || { echo "qemu-boot.sh: apt-get install qemu-system-arm" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/cradle-qemu.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export MTOOLS_SKIP_CHECK=1

# The boot partition's start (sectors) and the kernel and initrd in it.
START=$(sfdisk -d "$IMG" | grep ': start=' | sed -n '1s/.*start= *\([0-9]*\).*/\1/p')
KERNEL=$(mdir -b -i "$IMG@@$((START * 512))" ::/ | sed 's|^::/||' | grep '^vmlinuz-' | head -n 1)
INITRD=$(mdir -b -i "$IMG@@$((START * 512))" ::/ | sed 's|^::/||' | grep '^initrd.img-' | head -n 1)
mcopy -i "$IMG@@$((START * 512))" "::/$KERNEL" "$TMP/vmlinuz"
mcopy -i "$IMG@@$((START * 512))" "::/$INITRD" "$TMP/initrd"

# A scratch copy with room to grow, so first boot's growpart has work to do.
cp --sparse=always "$IMG" "$TMP/disk.img"
truncate -s +512M "$TMP/disk.img"

echo "booting $KERNEL in qemu (up to $TIMEOUT s); console log: $TMP/console.log (kept on failure)"
timeout --kill-after=10 "$TIMEOUT" qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2 -m 1024 \
	-nographic -no-reboot -monitor none -serial stdio \
	-kernel "$TMP/vmlinuz" -initrd "$TMP/initrd" \
	-append "root=LABEL=ROOT rootwait console=ttyAMA0 net.ifnames=0 systemd.journald.forward_to_console=1" \
	-drive "file=$TMP/disk.img,format=raw,if=virtio" \
	-netdev user,id=net0 -device virtio-net-pci,netdev=net0,romfile= \
	</dev/null >"$TMP/console.log" 2>&1 &
QPID=$!   # the timeout process; killing it stops qemu

# Poll the console log until both signs are seen or qemu (timeout) exits.
rc=1
while kill -0 "$QPID" 2>/dev/null; do
	if grep -q 'Started cradled.service' "$TMP/console.log" &&
		grep -q 'cradle-firstboot: grew' "$TMP/console.log"; then
		rc=0
		break
	fi
	sleep 5
done
kill "$QPID" 2>/dev/null || true
wait "$QPID" 2>/dev/null || true
tr -d '\r' <"$TMP/console.log" | grep -E 'cradle|Failed|Reached target' || true
if [ $rc = 0 ]; then
	echo "qemu-boot.sh: systemd started cradled.service and first boot grew the root partition"
else
	cp "$TMP/console.log" "${IMG%.img}.qemu-console.log"
	echo "qemu-boot.sh: did not see both within $TIMEOUT s; console log in ${IMG%.img}.qemu-console.log" >&2
	tail -n 30 "$TMP/console.log" >&2
	exit 1
fi
