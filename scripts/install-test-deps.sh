#!/usr/bin/env bash
# Installs the real servers the test suite starts on loopback ports.
# Idempotent: only missing packages are installed. Needs root (or sudo).
set -euo pipefail
pkgs=(mosquitto influxdb victoria-metrics prometheus mbpoll socat chromium chromium-driver openssl)
bins=(mosquitto influxd victoria-metrics prometheus mbpoll socat chromium chromedriver openssl)
if [ "${1:-}" = "--demo" ]; then
  # The demo needs only an MQTT broker for its MQTT devices.
  pkgs=(mosquitto)
  bins=(mosquitto)
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] && exit 0
  if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then exit 1; fi
fi
missing=()
for i in "${!pkgs[@]}"; do
  if ! command -v "${bins[$i]}" >/dev/null 2>&1 && [ ! -x "/usr/sbin/${bins[$i]}" ] && [ ! -x "/usr/bin/${bins[$i]}" ]; then
    missing+=("${pkgs[$i]}")
  fi
done
# systemd-analyze is used by the unit-file tests; it ships in 'systemd'.
if [ "${1:-}" != "--demo" ]; then
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: all test servers present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts these as system services on install; the tests run their own instances.
for svc in mosquitto influxdb victoria-metrics prometheus; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
