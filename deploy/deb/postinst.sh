#!/bin/sh
# Enable and (re)start the monitor; its state lives in /var/lib/cradle
# (systemd's StateDirectory), which a removal keeps: trust is never lost.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	systemctl enable cradled.service >/dev/null 2>&1 || true
	systemctl restart cradled.service >/dev/null 2>&1 || true
fi
