#!/bin/sh
# On the first install, enable and start the monitor. On an upgrade, only
# restart it if it is running: a machine where the parent has disabled it
# (a parent unit: `systemctl disable --now cradled`) stays that way, and the
# parent unit's cradle-listen@ instances pick up the new cradle binary.
# The state in /var/lib/cradle and /var/lib/cradle-listener (systemd's
# StateDirectory) is never touched: trust survives upgrades and removal.
set -e

# cradled runs as the system user cradle (cradled.service: User=, Group=,
# SupplementaryGroups=audio video gpio). systemd refuses to start a unit
# whose user or groups do not exist, so they are made here, on every
# configure (each step only when missing), and also in an image build's
# chroot where systemd is not running. audio and video come with Debian's
# base-passwd; gpio is Raspberry Pi OS's group for /dev/gpiochip* and
# /dev/gpiomem, made here on plain Debian (60-cradle-gpio.rules gives it
# the devices). The user's home is the state directory; systemd makes it
# and hands it to cradle (an upgrade from a root-owned one included).
if [ "$1" = configure ]; then
	for group in audio video gpio cradle; do
		getent group "$group" >/dev/null || groupadd --system "$group"
	done
	if ! getent passwd cradle >/dev/null; then
		useradd --system --gid cradle --groups audio,video,gpio \
			--home-dir /var/lib/cradle --no-create-home --shell /usr/sbin/nologin \
			--comment "Cradle baby monitor" cradle
	fi
	# The udev rule gives gpio the GPIO devices that already exist.
	if [ -d /run/udev ] && command -v udevadm >/dev/null 2>&1; then
		udevadm control --reload-rules >/dev/null 2>&1 || true
		udevadm trigger --action=change --subsystem-match=gpio --subsystem-match='*gpiomem*' >/dev/null 2>&1 || true
	fi
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ "$1" = configure ] && [ -z "$2" ]; then
		systemctl enable cradled.service cradled-https.socket cradled-http.socket >/dev/null 2>&1 || true
		systemctl restart cradled.service >/dev/null 2>&1 || true
	else
		# An upgrade from a release without the phones' page: its sockets
		# follow the monitor (enabled only where cradled is).
		if systemctl is-enabled --quiet cradled.service 2>/dev/null; then
			systemctl enable --now cradled-https.socket cradled-http.socket >/dev/null 2>&1 || true
		fi
		systemctl try-restart cradled.service >/dev/null 2>&1 || true
		for unit in $(systemctl list-units --plain --no-legend --state=active 'cradle-listen@*.service' 2>/dev/null | awk '{print $1}'); do
			systemctl try-restart "$unit" >/dev/null 2>&1 || true
		done
	fi
fi
