#!/bin/bash
# build.sh OUT.img [DEB]: a flashable Raspberry Pi (3, 4, Zero 2 W; arm64)
# SD-card image of Debian bookworm with Cradle's monitor (the package
# cradled, DEB) installed and enabled; the listener (the package cradle) is
# not on it. See README.md in this directory.
#
# How: debootstrap an arm64 root file system (second stage run through
# qemu-user binfmt), install the Pi packages and the cradled .deb in a chroot,
# then build the two partitions as plain files (mkfs.vfat + mtools for the
# boot partition, mke2fs -d for the root) and dd them into an MBR image made
# with sfdisk. No losetup -P, kpartx or /dev/mapper is needed.
#
# The root file system with all Debian packages installed is cached as a
# tarball under $CACHE (keyed by the package list and this script's base
# stage revision), and downloaded .debs are kept there too, so a second run
# only repeats the Cradle-specific steps.
#
# Environment: CRADLE_IMAGE_CACHE (default /var/cache/cradle-image),
# MIRROR (default http://deb.debian.org/debian), CRADLE_HOSTNAME (cradle),
# CRADLE_ROOM (the room name written to the boot partition; Nursery),
# KEEP_WORK=1 keeps the work directory for inspection, BASE_ONLY=1 only
# builds (or checks) the cached base root file system and needs no .deb (make
# image starts it while the .deb is being cross-built).
set -eu

usage() { echo "usage: $0 OUT.img [cradled_VERSION_arm64.deb]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=$1
DEB=${2:-$(ls -1 "$REPO"/bin/cradled_*_arm64.deb 2>/dev/null | sort -V | tail -n 1)}
CACHE=${CRADLE_IMAGE_CACHE:-/var/cache/cradle-image}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
HOST_NAME=${CRADLE_HOSTNAME:-cradle}
ROOM=${CRADLE_ROOM:-Nursery}
BOOT_MIB=256       # FAT32 boot partition (firmware, kernel, initrd, dtbs)
FIRST_MIB=4        # the boot partition starts 4 MiB in (SD erase-block aligned)
ROOT_MARGIN_MIB=384  # free space in the root partition before first-boot growth
# Bump BASE_REV when the base stage (base_stage below) changes, so the cached
# root file system is rebuilt.
BASE_REV=1

# What a Pi appliance needs on top of minbase. ifupdown is not used:
# systemd-networkd does DHCP on eth0/wlan0. fdisk (sfdisk) and e2fsprogs
# (resize2fs) grow the root partition at first boot (cloud-guest-utils'
# growpart would pull in Python). openssh-server accepts keys only.
PACKAGES="systemd systemd-sysv udev dbus systemd-timesyncd kmod
 iproute2 iputils-ping netbase wpasupplicant openssh-server
 raspi-firmware linux-image-arm64 initramfs-tools firmware-brcm80211
 alsa-utils libasound2 libvpx7 libmp3lame0 e2fsprogs fdisk"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and mounts need it)"
BASE_ONLY=${BASE_ONLY:-0}
if [ "$BASE_ONLY" != 1 ]; then
	[ -n "$DEB" ] && [ -f "$DEB" ] || die "no cradled arm64 .deb: run 'make -C $REPO deb-arm64' or pass its path"
	# The monitor's package; the listener's (cradle) has no cradled.
	what=$(dpkg-deb --show --showformat='${Package} ${Architecture}' "$DEB") || die "$DEB is not a .deb"
	[ "$what" = "cradled arm64" ] || die "$DEB is $what, not the monitor's arm64 package (cradled)"
	DEB=$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")
fi
for tool in debootstrap update-binfmts sfdisk mkfs.vfat mcopy mke2fs e2fsck chroot; do
	command -v "$tool" >/dev/null 2>&1 || die "missing $tool: apt-get install debootstrap qemu-user-static binfmt-support fdisk dosfstools mtools e2fsprogs"
done
[ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || [ -e /usr/bin/qemu-aarch64-static ] ||
	die "missing qemu-user-static: apt-get install qemu-user-static binfmt-support"

START=$(date +%s)
mkdir -p "$CACHE/debs/partial" "$(dirname "$OUT")"
WORK=$(mktemp -d "$CACHE/work.XXXXXX")
ROOT=$WORK/root
MOUNTS=""          # mount points to undo, innermost first
BINFMT_MOUNTED=""  # set when we mounted binfmt_misc ourselves
BINFMT_ENABLED=""  # set when we enabled qemu-aarch64 ourselves

# mnt ARGS... DIR: mount and remember DIR for cleanup.
mnt() {
	mount "$@"
	eval "MOUNTP=\${$#}"
	MOUNTS="$MOUNTP $MOUNTS"
}

umount_all() {
	for m in $MOUNTS; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "warning: could not unmount $m" >&2
	done
	MOUNTS=""
}

cleanup() {
	rc=$?
	set +e
	umount_all
	[ -n "$BINFMT_ENABLED" ] && update-binfmts --disable qemu-aarch64 >/dev/null 2>&1
	[ -n "$BINFMT_MOUNTED" ] && umount /proc/sys/fs/binfmt_misc
	if [ "${KEEP_WORK:-0}" = 1 ]; then
		echo "work directory kept: $WORK" >&2
	else
		# Never rm -rf through a mount that is still there.
		if grep -q " $WORK" /proc/mounts; then
			echo "warning: mounts remain under $WORK; not removing it" >&2
		else
			rm -rf "$WORK"
		fi
	fi
	[ $rc = 0 ] || echo "build.sh: failed (exit $rc)" >&2
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in_root CMD...: run a command inside the arm64 root (through qemu binfmt).
in_root() {
	chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# enable_binfmt: let the kernel run arm64 binaries through qemu-aarch64.
enable_binfmt() {
	if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
		BINFMT_MOUNTED=1
	fi
	if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
		update-binfmts --enable qemu-aarch64
		BINFMT_ENABLED=1
	fi
}

# mount_api: proc, sys, dev, the .deb cache and a bind of /boot/firmware on
# itself (raspi-firmware's kernel hook only writes to a mount point).
mount_api() {
	mnt -t proc proc "$ROOT/proc"
	mnt -t sysfs sysfs "$ROOT/sys"
	mnt --bind /dev "$ROOT/dev"
	mnt -t devpts -o newinstance,ptmxmode=0666 devpts "$ROOT/dev/pts"
	mnt --bind "$CACHE/debs" "$ROOT/var/cache/apt/archives"
	mkdir -p "$ROOT/boot/firmware"
	mnt --bind "$ROOT/boot/firmware" "$ROOT/boot/firmware"
	# No daemons may start inside the build chroot.
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
	chmod 755 "$ROOT/usr/sbin/policy-rc.d"
}

unmount_api() {
	rm -f "$ROOT/usr/sbin/policy-rc.d"
	umount_all
}

# base_stage: debootstrap plus every Debian package; cached as a tarball.
base_stage() {
	log "debootstrap $SUITE arm64 (first stage)"
	debootstrap --arch=arm64 --foreign --variant=minbase \
		--components=main,non-free-firmware --cache-dir="$CACHE/debs" \
		"$SUITE" "$ROOT" "$MIRROR"
	log "debootstrap second stage (in the chroot, through qemu)"
	in_root /debootstrap/debootstrap --second-stage

	cat >"$ROOT/etc/apt/sources.list" <<-EOF
	deb $MIRROR $SUITE main contrib non-free-firmware
	deb $MIRROR $SUITE-updates main contrib non-free-firmware
	deb http://deb.debian.org/debian-security $SUITE-security main contrib non-free-firmware
	EOF
	# Keep the image small: no recommends, no translations.
	cat >"$ROOT/etc/apt/apt.conf.d/90cradle" <<-EOF
	APT::Install-Recommends "false";
	Acquire::Languages "none";
	EOF
	# raspi-firmware writes cmdline.txt from this; set before it is installed.
	cat >"$ROOT/etc/default/raspi-firmware" <<-EOF
	# Written by Cradle's image build (deploy/image/build.sh).
	ROOTPART=LABEL=ROOT
	CONSOLES="tty1 ttyS1,115200"
	# No cma= on the command line: the default 64M makes a Pi 4 unbootable and
	# the build (not on a Pi) cannot tell which model will run the image.
	CMA=0
	EOF
	# The generic "most" initramfs: the build cannot detect the Pi's modules.
	mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
	echo "MODULES=most" >"$ROOT/etc/initramfs-tools/conf.d/cradle"

	mount_api
	log "apt-get install the Pi packages"
	in_root apt-get update -q
	# --force-confold keeps the /etc/default/raspi-firmware written above.
	in_root apt-get dist-upgrade -y -q
	# shellcheck disable=SC2086
	in_root apt-get install -y -q -o Dpkg::Options::=--force-confold $PACKAGES
	unmount_api
}

enable_binfmt
KEY=$( (printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES" "$BASE_REV"; sed -n '/^base_stage()/,/^}/p' "$0") | sha256sum | cut -c1-12)
BASE_TAR=$CACHE/base-$KEY.tar
mkdir -p "$ROOT"
if [ -f "$BASE_TAR" ]; then
	log "using cached base root file system $BASE_TAR"
	tar --numeric-owner --xattrs --xattrs-include='*' -xpf "$BASE_TAR" -C "$ROOT"
else
	base_stage
	log "caching the base root file system as $BASE_TAR"
	tar --numeric-owner --xattrs --xattrs-include='*' -cpf "$BASE_TAR.tmp" -C "$ROOT" .
	mv "$BASE_TAR.tmp" "$BASE_TAR"
fi
if [ "$BASE_ONLY" = 1 ]; then
	log "base root file system ready in $(( $(date +%s) - START )) s: $BASE_TAR"
	exit 0
fi

# ---- Cradle stage: everything below runs on every build. ----
mount_api

log "installing $(basename "$DEB")"
cp "$DEB" "$ROOT/tmp/cradled.deb"
in_root apt-get install -y -q /tmp/cradled.deb
rm -f "$ROOT/tmp/cradled.deb"
# The package's postinst enables the unit only when systemd is running;
# offline, systemctl enable just creates the wants symlink.
in_root systemctl enable cradled.service cradled-https.socket cradled-http.socket

log "hostname, fstab, network, first-boot unit"
echo "$HOST_NAME" >"$ROOT/etc/hostname"
cat >"$ROOT/etc/hosts" <<EOF
127.0.0.1	localhost
127.0.1.1	$HOST_NAME
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF

cat >"$ROOT/etc/fstab" <<'EOF'
# <file system>   <mount point>   <type> <options>                    <dump> <pass>
LABEL=ROOT        /               ext4   defaults,noatime,commit=60   0      1
LABEL=RASPIFIRM   /boot/firmware  vfat   defaults,umask=0077,nofail   0      2
tmpfs             /tmp            tmpfs  defaults,nosuid,nodev,size=64M 0    0
EOF

# systemd-networkd: DHCP (v4 and v6) on Ethernet and Wi-Fi. The kernel
# command line has net.ifnames=0, so the names are eth0 and wlan0.
cat >"$ROOT/etc/systemd/network/20-wired.network" <<'EOF'
[Match]
Name=eth* en*

[Network]
DHCP=yes
MulticastDNS=no

[DHCPv4]
RouteMetric=100
EOF
# USB Ethernet (cdc_ether, rndis_host, ...: a USB adapter, a Pi Zero's
# USB port, and QEMU's raspi3b, whose only network is usb-net): the kernel
# names these usb0, usb1... (with net.ifnames=0), which eth* does not match.
cat >"$ROOT/etc/systemd/network/22-usb.network" <<'EOF'
[Match]
Name=usb*

[Network]
DHCP=yes
MulticastDNS=no

[DHCPv4]
RouteMetric=200
EOF
cat >"$ROOT/etc/systemd/network/25-wireless.network" <<'EOF'
[Match]
Name=wlan*

[Network]
DHCP=yes

[DHCPv4]
RouteMetric=600
EOF
in_root systemctl enable systemd-networkd.service systemd-timesyncd.service
# The D-Bus-driven wpa_supplicant.service is not used (wpa_supplicant@wlan0 is).
in_root systemctl disable wpa_supplicant.service
# Wi-Fi: wpa_supplicant runs on wlan0 when the device appears (not at all on
# a Pi without Wi-Fi). The placeholder has no network; first boot imports
# /boot/firmware/wpa_supplicant.conf if the user put one there.
mkdir -p "$ROOT/etc/wpa_supplicant" "$ROOT/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants"
# (a wipe puts the placeholder back: cradle-wipe)
install -d "$ROOT/usr/local/share/cradle-image"
install -m 644 "$HERE/wpa_supplicant-wlan0.conf" "$ROOT/usr/local/share/cradle-image/wpa_supplicant-wlan0.conf"
install -m 600 "$HERE/wpa_supplicant-wlan0.conf" "$ROOT/etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
ln -sf /lib/systemd/system/wpa_supplicant@.service \
	"$ROOT/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants/wpa_supplicant@wlan0.service"

# SSH: keys only, no passwords; host keys are made on the Pi at first boot
# (never shipped in the image), authorized keys come from the boot partition.
cat >"$ROOT/etc/ssh/sshd_config.d/cradle.conf" <<'EOF'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
EOF
rm -f "$ROOT"/etc/ssh/ssh_host_*

# The first-boot helper (runs every boot; each step is a no-op once done).
install -m 755 "$HERE/cradle-firstboot" "$ROOT/usr/local/sbin/cradle-firstboot"
install -m 644 "$HERE/cradle-firstboot.service" "$ROOT/etc/systemd/system/cradle-firstboot.service"
in_root systemctl enable cradle-firstboot.service
# The card follows the monitor's setup code: after a factory reset the new
# code is on cradle-setup.txt within seconds (no reboot).
install -m 755 "$HERE/cradle-setup-card" "$ROOT/usr/local/sbin/cradle-setup-card"
install -m 644 "$HERE/cradle-setup-card.service" "$HERE/cradle-setup-card.path" "$ROOT/etc/systemd/system/"
in_root systemctl enable cradle-setup-card.path
# The wipe (button held 30 s, `cradled wipe --yes`): after the monitor
# stops, cradle-wipe clears the card's credentials and reboots.
install -m 755 "$HERE/cradle-wipe" "$ROOT/usr/local/sbin/cradle-wipe"
install -d "$ROOT/etc/systemd/system/cradled.service.d"
install -m 644 "$HERE/cradle-wipe.conf" "$ROOT/etc/systemd/system/cradled.service.d/cradle-wipe.conf"

# No password login anywhere: root's password is locked (documented in the
# README: log in over SSH with a key from the boot partition).
in_root passwd -l root >/dev/null
# A fresh machine-id per Pi: empty file = systemd makes one at first boot.
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"

log "boot files: kernel, initrd, dtbs, config.txt, cmdline.txt (raspi-firmware hook)"
KVER=$(basename "$(ls -d "$ROOT"/lib/modules/* | sort -V | tail -n 1)")
in_root env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware "$KVER"

# The card is the monitor's sticker: a fresh setup code for every build, and
# the room name, on the boot partition (cradle-setup.txt, cradle-name.txt),
# with the phones' page by the room's short name and its pairing link as a
# QR code (cradle-phone.txt, cradle-phone.png; first boot names the
# monitor's unique host name instead).
# The monitor's identity is NOT made here: it is made on the Pi at first
# boot (like the SSH host keys), which then writes the setup payload and its
# QR code (cradle-setup.png) next to the code. See README.md, "Provisioning".
log "setup code and room name ($ROOM) on the boot partition"
# (cgo binary under qemu-user: always bounded in time)
timeout --kill-after=10 300 chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	/usr/bin/cradled --config /etc/cradle/cradled.toml provision --new /boot/firmware --room "$ROOM" >/dev/null ||
	die "cradled provision failed in the image's root (through qemu-user)"
rm -rf "$ROOT/etc/cradle/cradled.d" "$ROOT/var/lib/cradle"
SETUP_TEXT=$(cat "$ROOT/boot/firmware/cradle-setup.txt")

# Trim: package lists and the build-time helpers are not needed on the Pi.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* "$ROOT"/tmp/*
unmount_api

# ---- Partitions as files, then one MBR image. ----
log "boot partition (FAT32, label RASPIFIRM, $BOOT_MIB MiB)"
BOOT_IMG=$WORK/boot.img
rm -f "$BOOT_IMG"
mkfs.vfat -F 32 -n RASPIFIRM -C "$BOOT_IMG" $((BOOT_MIB * 1024)) >/dev/null
MTOOLS_SKIP_CHECK=1 mcopy -s -p -m -i "$BOOT_IMG" "$ROOT"/boot/firmware/* ::/
# /boot/firmware stays an empty mount point in the root file system.
find "$ROOT/boot/firmware" -mindepth 1 -delete

USED_MIB=$(du -sx --block-size=1M "$ROOT" | cut -f1)
ROOT_MIB=$(( (USED_MIB * 12 / 10 + ROOT_MARGIN_MIB + 3) / 4 * 4 ))
log "root partition (ext4, label ROOT, $ROOT_MIB MiB for $USED_MIB MiB of files)"
ROOT_IMG=$WORK/root.img
rm -f "$ROOT_IMG"
mke2fs -q -t ext4 -L ROOT -m 1 -d "$ROOT" "$ROOT_IMG" "${ROOT_MIB}M"
e2fsck -fn "$ROOT_IMG" >/dev/null

log "MBR image $OUT"
TOTAL_MIB=$((FIRST_MIB + BOOT_MIB + ROOT_MIB))
TMP_OUT=$OUT.tmp
rm -f "$TMP_OUT"
truncate -s "${TOTAL_MIB}M" "$TMP_OUT"
S=2048 # sectors per MiB
sfdisk --quiet "$TMP_OUT" <<EOF
label: dos
unit: sectors

start=$((FIRST_MIB * S)), size=$((BOOT_MIB * S)), type=c, bootable
start=$(((FIRST_MIB + BOOT_MIB) * S)), size=$((ROOT_MIB * S)), type=83
EOF
dd if="$BOOT_IMG" of="$TMP_OUT" bs=1M seek="$FIRST_MIB" conv=notrunc,sparse status=none
dd if="$ROOT_IMG" of="$TMP_OUT" bs=1M seek=$((FIRST_MIB + BOOT_MIB)) conv=notrunc,sparse status=none
mv "$TMP_OUT" "$OUT"

log "done in $(( $(date +%s) - START )) s: $OUT ($TOTAL_MIB MiB; boot $BOOT_MIB MiB, root $ROOT_MIB MiB)"
cat <<EOF

This image's setup code is on its boot partition as cradle-setup.txt (the
monitor's first boot adds the setup payload and cradle-setup.png, a QR code).
Every build makes a new code; flash one card per build if the monitors must
have different codes. Keep it private.
----
$SETUP_TEXT
----
EOF
