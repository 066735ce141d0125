#!/bin/sh
# Build Mosquitto's password file from the environment, then run the broker.
# Used by docker-compose.yml (the mosquitto service) and by tests/deploy/test_compose.py.
# Each role's password comes from .env; a missing one stops the broker before it starts.
set -eu
conf="${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}"
passwd_file="${MOSQUITTO_PASSWORD_FILE:-/mosquitto/auth/passwd}"

mkdir -p "$(dirname "$passwd_file")"
umask 077
tmp="$passwd_file.new"
: > "$tmp"
for role in simulator ingest operator; do
    var="MQTT_$(echo "$role" | tr a-z A-Z)_PASSWORD"
    eval "pw=\${$var:-}"
    if [ -z "$pw" ]; then
        echo "entrypoint: $var is not set (see .env.example)" >&2
        exit 1
    fi
    mosquitto_passwd -b "$tmp" "$role" "$pw"
done
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$tmp"
    chown -R mosquitto:mosquitto /mosquitto/data 2>/dev/null || true
fi
mv "$tmp" "$passwd_file"
exec "${MOSQUITTO_BIN:-mosquitto}" -c "$conf"
