#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	systemctl stop cradled.service >/dev/null 2>&1 || true
	systemctl disable cradled.service >/dev/null 2>&1 || true
	systemctl stop cradled-https.socket cradled-http.socket >/dev/null 2>&1 || true
	systemctl disable cradled-https.socket cradled-http.socket >/dev/null 2>&1 || true
fi
