#!/bin/sh
# On the first install, enable and start the monitor. On an upgrade, only
# restart it if it is running: a machine where the parent has disabled it
# (a parent unit: `systemctl disable --now cradled`) stays that way, and the
# parent unit's cradle-listen@ instances pick up the new cradle binary.
# The state in /var/lib/cradle and /var/lib/cradle-listener (systemd's
# StateDirectory) is never touched: trust survives upgrades and removal.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ "$1" = configure ] && [ -z "$2" ]; then
		systemctl enable cradled.service >/dev/null 2>&1 || true
		systemctl restart cradled.service >/dev/null 2>&1 || true
	else
		systemctl try-restart cradled.service >/dev/null 2>&1 || true
		for unit in $(systemctl list-units --plain --no-legend --state=active 'cradle-listen@*.service' 2>/dev/null | awk '{print $1}'); do
			systemctl try-restart "$unit" >/dev/null 2>&1 || true
		done
	fi
fi
