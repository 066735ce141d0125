#!/bin/sh
# Build Mosquitto's password file from the environment, then run the broker.
# Used by docker-compose.yml (the mosquitto service) and by tests/deploy/test_compose.py.
# Each account's password comes from .env. A missing, short or placeholder one stops the
# broker before it starts (the same words services/config.py:WEAK_SECRETS refuses), and no
# password is ever put on a command line (`ps` shows those): mosquitto_passwd reads it from
# its standard input, the healthcheck's mosquitto_sub from a 0600 options file.
set -eu
conf="${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}"
passwd_file="${MOSQUITTO_PASSWORD_FILE:-/mosquitto/auth/passwd}"
auth_dir="$(dirname "$passwd_file")"
# extra listeners (TLS) are written here; mosquitto.conf includes this folder
include_dir="${MOSQUITTO_INCLUDE_DIR:-$auth_dir/conf.d}"
weak_words="change-me changeme example password secret aqkol postgres"
min_length=16

mkdir -p "$auth_dir" "$include_dir"
umask 077
tmp="$passwd_file.new"
: > "$tmp"
for role in simulator ingest api operator; do
    var="MQTT_$(echo "$role" | tr a-z A-Z)_PASSWORD"
    eval "pw=\${$var:-}"
    if [ -z "$pw" ]; then
        echo "entrypoint: $var is not set (see .env.example)" >&2
        exit 1
    fi
    if [ "${#pw}" -lt "$min_length" ]; then
        echo "entrypoint: $var is shorter than $min_length characters" >&2
        exit 1
    fi
    low="$(printf '%s' "$pw" | tr A-Z a-z)"
    for word in $weak_words; do
        case "$low" in
            *"$word"*)
                echo "entrypoint: $var contains the placeholder '$word' (copy .env.example and change it)" >&2
                exit 1 ;;
        esac
    done
    printf '%s\n%s\n' "$pw" "$pw" | mosquitto_passwd "$tmp" "$role" >/dev/null
done

# the healthcheck logs in as the operator without a password on its command line
client_dir="$auth_dir/client"
mkdir -p "$client_dir"
printf -- '-u operator\n-P %s\n' "$MQTT_OPERATOR_PASSWORD" > "$client_dir/mosquitto_sub"

# the optional TLS listener: on when a certificate and its key are given
rm -f "$include_dir/tls.conf"
if [ -n "${MQTT_TLS_CERTFILE:-}" ] || [ -n "${MQTT_TLS_KEYFILE:-}" ]; then
    for f in "${MQTT_TLS_CERTFILE:-}" "${MQTT_TLS_KEYFILE:-}"; do
        if [ ! -r "$f" ]; then
            echo "entrypoint: TLS needs MQTT_TLS_CERTFILE and MQTT_TLS_KEYFILE; cannot read '$f'" >&2
            exit 1
        fi
    done
    {
        echo "listener ${MQTT_TLS_LISTENER:-8883}"
        echo "protocol mqtt"
        echo "certfile $MQTT_TLS_CERTFILE"
        echo "keyfile $MQTT_TLS_KEYFILE"
        echo "tls_version tlsv1.2"
    } > "$include_dir/tls.conf"
    echo "entrypoint: TLS listener on ${MQTT_TLS_LISTENER:-8883}"
fi

if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$tmp"
    chown -R mosquitto:mosquitto /mosquitto/data 2>/dev/null || true
fi
mv "$tmp" "$passwd_file"
exec "${MOSQUITTO_BIN:-mosquitto}" -c "$conf"
