#!/bin/bash
# check.sh OUT.img: verify a Cradle Pi image built by build.sh without
# booting it. Reads the MBR with sfdisk, cuts both partitions out with dd,
# inspects the FAT one with mtools and the ext4 one with debugfs (all read
# only, no mounts, no loop devices). Prints one line per check and exits 1
# if any check fails.
set -eu

[ $# = 1 ] || { echo "usage: $0 OUT.img" >&2; exit 2; }
IMG=$1
HOST_NAME=${CRADLE_HOSTNAME:-cradle}
[ -f "$IMG" ] || { echo "check.sh: no such image: $IMG" >&2; exit 2; }
for tool in sfdisk mdir mtype debugfs e2fsck fsck.vfat; do
	command -v "$tool" >/dev/null 2>&1 || { echo "check.sh: missing $tool (apt-get install fdisk mtools e2fsprogs dosfstools)" >&2; exit 2; }
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
ok()   { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; FAILS=$((FAILS + 1)); }
# check DESC CMD...: run CMD quietly, ok/fail by its exit status.
check() {
	desc=$1; shift
	if "$@" >/dev/null 2>&1; then ok "$desc"; else fail "$desc"; fi
}

# ---- Partition table ----
sfdisk -d "$IMG" >"$TMP/table" 2>/dev/null || { fail "sfdisk cannot read a partition table"; exit 1; }
check "MBR (dos) partition table" grep -q '^label: dos' "$TMP/table"
NPARTS=$(grep -c ': start=' "$TMP/table" || true)
[ "$NPARTS" = 2 ] && ok "2 partitions" || fail "2 partitions (found $NPARTS)"
# field N KEY: a partition's value from the sfdisk dump (start, size, type).
field() { grep ': start=' "$TMP/table" | sed -n "$1p" | tr ',' '\n' | sed -n "s/.*$2= *//p" | tr -d ' '; }
T1=$(field 1 type); T2=$(field 2 type)
case $T1 in b|c) ok "partition 1 is FAT32 (type $T1)" ;; *) fail "partition 1 is FAT32 (type 0x$T1)" ;; esac
[ "$T2" = 83 ] && ok "partition 2 is Linux (type 83)" || fail "partition 2 is Linux (type 0x$T2)"
grep ': start=' "$TMP/table" | sed -n 1p | grep -q bootable && ok "partition 1 is marked bootable" || fail "partition 1 is marked bootable"

# extract N FILE: copy partition N out of the image.
extract() {
	start=$(field "$1" start); size=$(field "$1" size)
	dd if="$IMG" of="$2" bs=4M iflag=skip_bytes,count_bytes \
		skip=$((start * 512)) count=$((size * 512)) status=none
}
extract 1 "$TMP/boot.img"
extract 2 "$TMP/root.img"

# ---- Boot partition (FAT) ----
export MTOOLS_SKIP_CHECK=1
check "boot: FAT file system is clean (fsck.vfat -n)" fsck.vfat -n "$TMP/boot.img"
LABEL=$(mlabel -s -i "$TMP/boot.img" :: 2>/dev/null | sed 's/.*is //' | tr -d ' ')
case $LABEL in RASPIFIRM|BOOT) ok "boot: label $LABEL" ;; *) fail "boot: label RASPIFIRM or BOOT (got '$LABEL')" ;; esac
mdir -b -i "$TMP/boot.img" ::/ 2>/dev/null | sed 's|^::/||' >"$TMP/bootfiles" || true
has() { grep -qx "$1" "$TMP/bootfiles"; }
for f in config.txt cmdline.txt bootcode.bin start.elf fixup.dat start4.elf fixup4.dat \
	bcm2837-rpi-3-b.dtb bcm2837-rpi-3-b-plus.dtb bcm2711-rpi-4-b.dtb bcm2837-rpi-zero-2-w.dtb; do
	check "boot: $f" has "$f"
done
KERNEL=$(grep -E '^vmlinuz-' "$TMP/bootfiles" | head -n 1 || true)
INITRD=$(grep -E '^initrd\.img-' "$TMP/bootfiles" | head -n 1 || true)
[ -n "$KERNEL" ] && ok "boot: kernel $KERNEL" || fail "boot: a kernel (vmlinuz-*)"
[ -n "$INITRD" ] && ok "boot: initrd $INITRD" || fail "boot: an initrd (initrd.img-*)"

mtype -i "$TMP/boot.img" ::/config.txt >"$TMP/config.txt" 2>/dev/null || : >"$TMP/config.txt"
mtype -i "$TMP/boot.img" ::/cmdline.txt >"$TMP/cmdline.txt" 2>/dev/null || : >"$TMP/cmdline.txt"
check "config.txt: arm_64bit=1" grep -qE '^[[:space:]]*arm_64bit=1' "$TMP/config.txt"
# config.txt must name the kernel and initrd that are really there.
CFG_KERNEL=$(sed -n 's/^[[:space:]]*kernel=//p' "$TMP/config.txt" | tr -d '\r' | head -n 1)
CFG_INITRD=$(sed -n 's/^[[:space:]]*initramfs[[:space:]]\+\([^[:space:]]*\).*/\1/p' "$TMP/config.txt" | tr -d '\r' | head -n 1)
[ -n "$CFG_KERNEL" ] && has "$CFG_KERNEL" && ok "config.txt: kernel=$CFG_KERNEL exists" || fail "config.txt: kernel= names a file on the partition ('$CFG_KERNEL')"
[ -n "$CFG_INITRD" ] && has "$CFG_INITRD" && ok "config.txt: initramfs $CFG_INITRD exists" || fail "config.txt: initramfs names a file on the partition ('$CFG_INITRD')"
if grep -qE '(^|[[:space:]])root=(LABEL=ROOT|PARTUUID=[0-9a-fA-F-]+)([[:space:]]|$)' "$TMP/cmdline.txt"; then
	ok "cmdline.txt: $(grep -oE 'root=[^[:space:]]+' "$TMP/cmdline.txt")"
else
	fail "cmdline.txt: root=LABEL=ROOT or root=PARTUUID=... (got: $(cat "$TMP/cmdline.txt"))"
fi
check "cmdline.txt: rootwait" grep -qw rootwait "$TMP/cmdline.txt"
# The card is the monitor's sticker: the setup code and the room name.
mtype -i "$TMP/boot.img" ::/cradle-setup.txt >"$TMP/setup.txt" 2>/dev/null || : >"$TMP/setup.txt"
check "boot: cradle-setup.txt has a setup code" grep -qE '^Setup code: [0-9]{4}-[0-9]{4}$' "$TMP/setup.txt"
check "boot: cradle-setup.txt says how to pair" grep -q 'cradle pair ' "$TMP/setup.txt"
check "boot: cradle-name.txt" has cradle-name.txt
# The phones' page by the room's short name, with the code in the link.
mtype -i "$TMP/boot.img" ::/cradle-phone.txt >"$TMP/phone.txt" 2>/dev/null || : >"$TMP/phone.txt"
check "boot: cradle-phone.txt has the pairing link" grep -qE '^Pairing link: https://[a-z0-9-]+\.local/#code=[0-9]{8}$' "$TMP/phone.txt"
check "boot: cradle-phone.png" has cradle-phone.png

# ---- Root partition (ext4) ----
check "root: ext4 file system is clean (e2fsck -fn)" e2fsck -fn "$TMP/root.img"
RLABEL=$(dumpe2fs -h "$TMP/root.img" 2>/dev/null | sed -n 's/^Filesystem volume name:[[:space:]]*//p')
[ "$RLABEL" = ROOT ] && ok "root: label ROOT" || fail "root: label ROOT (got '$RLABEL')"

# dbg CMD: run one debugfs request on the root file system (read only).
dbg() { debugfs -R "$1" "$TMP/root.img" 2>&1; }
# exists PATH TYPE: debugfs stat finds PATH and it has TYPE (regular, symlink, directory).
exists() { dbg "stat $1" | grep -q "Type: $2"; }
for f in /usr/bin/cradled /lib/systemd/system/cradled.service /etc/cradle/cradled.toml \
	/etc/fstab /etc/hostname /usr/local/sbin/cradle-firstboot /etc/systemd/system/cradle-firstboot.service \
	/usr/local/sbin/cradle-setup-card /etc/systemd/system/cradle-setup-card.service /etc/systemd/system/cradle-setup-card.path \
	/usr/lib/udev/rules.d/60-cradle-gpio.rules \
	/etc/wpa_supplicant/wpa_supplicant-wlan0.conf /etc/systemd/network/20-wired.network \
	/usr/lib/firmware/brcm/brcmfmac43455-sdio.bin /usr/bin/arecord /usr/sbin/sfdisk /usr/sbin/resize2fs /usr/sbin/sshd /usr/sbin/wpa_supplicant; do
	check "root: $f" exists "$f" '\(regular\|symlink\)'
done
check "root: /boot/firmware (mount point)" exists /boot/firmware directory
check "root: /lib/modules/${KERNEL#vmlinuz-}" exists "/lib/modules/${KERNEL#vmlinuz-}" directory
check "root: /usr/bin/cradled is executable" sh -c "debugfs -R 'stat /usr/bin/cradled' '$TMP/root.img' 2>/dev/null | grep -qE 'Mode: +0755'"
WANTS=/etc/systemd/system/multi-user.target.wants
for unit in cradled.service cradle-firstboot.service cradle-setup-card.path systemd-networkd.service \
	../sysinit.target.wants/systemd-timesyncd.service; do
	if dbg "stat $WANTS/$unit" | grep -q 'Type: symlink'; then
		ok "root: $WANTS/$unit -> $(dbg "stat $WANTS/$unit" | sed -n 's/^Fast link dest: "\(.*\)"/\1/p')"
	else
		fail "root: $WANTS/$unit symlink"
	fi
done
check "root: wpa_supplicant@wlan0 starts with the wlan0 device" exists \
	/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants/wpa_supplicant@wlan0.service symlink
GOT=$(dbg "cat /etc/hostname" | grep -v '^debugfs' | tr -d '[:space:]')
[ "$GOT" = "$HOST_NAME" ] && ok "root: hostname $GOT" || fail "root: hostname $HOST_NAME (got '$GOT')"
dbg "cat /etc/fstab" >"$TMP/fstab"
check "root: fstab mounts LABEL=ROOT on /" grep -qE '^LABEL=ROOT[[:space:]]+/[[:space:]]+ext4' "$TMP/fstab"
check "root: fstab mounts the boot partition on /boot/firmware" grep -qE '^LABEL=(RASPIFIRM|BOOT)[[:space:]]+/boot/firmware[[:space:]]+vfat' "$TMP/fstab"
check "root: cradled.toml has a listen address" sh -c "debugfs -R 'cat /etc/cradle/cradled.toml' '$TMP/root.img' 2>/dev/null | grep -q '^listen'"
# cradled runs as the system user cradle, with the device groups (postinst).
dbg "cat /etc/passwd" >"$TMP/passwd"
dbg "cat /etc/group" >"$TMP/group"
check "root: system user cradle (home /var/lib/cradle, no login shell)" grep -qE '^cradle:x:[0-9]+:[0-9]+:[^:]*:/var/lib/cradle:/usr/sbin/nologin$' "$TMP/passwd"
for g in cradle audio video gpio; do
	check "root: group $g" grep -q "^$g:" "$TMP/group"
done
check "root: cradled.service runs as User=cradle" sh -c "debugfs -R 'cat /lib/systemd/system/cradled.service' '$TMP/root.img' 2>/dev/null | grep -qx 'User=cradle'"
check "root: cradled.service is Type=notify" sh -c "debugfs -R 'cat /lib/systemd/system/cradled.service' '$TMP/root.img' 2>/dev/null | grep -q '^Type=notify'"
check "root: dpkg knows cradled (the monitor's package) is installed" sh -c "debugfs -R 'cat /var/lib/dpkg/status' '$TMP/root.img' 2>/dev/null | grep -A1 -x 'Package: cradled' | grep -q 'install ok installed'"
# Security: no login password, no shared secrets baked into the image.
ROOTPW=$(dbg "cat /etc/shadow" | sed -n 's/^root:\([^:]*\):.*/\1/p')
case $ROOTPW in '!'*|'*'*) ok "root: root's password is locked" ;; *) fail "root: root's password is locked (no password login)" ;; esac
if dbg "ls /etc/ssh" | grep -q 'ssh_host_'; then fail "root: no SSH host keys baked in"; else ok "root: no SSH host keys baked in (made at first boot)"; fi
MID=$(dbg "stat /etc/machine-id" | sed -n 's/.*Size: \([0-9]*\).*/\1/p' | head -n 1)
[ "$MID" = 0 ] && ok "root: empty /etc/machine-id (one per Pi)" || fail "root: empty /etc/machine-id (size '$MID')"
# The monitor's identity and code are made on the Pi, not shared by every card.
if dbg "stat /var/lib/cradle" | grep -q 'Type:'; then fail "root: no monitor identity or setup code baked in (/var/lib/cradle)"; else ok "root: no monitor identity or setup code baked in (made at first boot)"; fi
check "root: no cradled.d drop-ins baked in" sh -c "! debugfs -R 'stat /etc/cradle/cradled.d' '$TMP/root.img' 2>/dev/null | grep -q Type:"
check "root: no policy-rc.d left from the build" sh -c "! debugfs -R 'stat /usr/sbin/policy-rc.d' '$TMP/root.img' 2>/dev/null | grep -q Type:"

echo
if [ "$FAILS" = 0 ]; then
	echo "check.sh: all checks passed for $IMG"
else
	echo "check.sh: $FAILS check(s) FAILED for $IMG"
	exit 1
fi
