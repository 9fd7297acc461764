#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	systemctl stop cradled.service >/dev/null 2>&1 || true
	systemctl disable cradled.service >/dev/null 2>&1 || true
fi
