#!/usr/bin/env bash
# Debian packages the test suite needs, installed non-interactively without starting the
# packaged services (policy-rc.d exits 101): tests start their own instances on 127.0.0.1.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
PACKAGES=(
  openssl ca-certificates curl
  voms-clients                    # voms-proxy-fake: real VOMS proxies for trust tests
  igtf-policy-classic fetch-crl   # the real IGTF trust anchors
  qemu-utils bzip2 xz-utils       # qemu-img and decompressors: format detection and conversion
  glance-api glance-common sqlite3 # a real OpenStack Glance for backend tests
  keystone uwsgi-core uwsgi-plugin-python3 # a real Keystone (served by uwsgi) in front of it
  python3-keystonemiddleware python3-openstackclient # Glance's authtoken; the operator's client
  squid                           # an HTTP proxy for https_proxy tests
  nginx-light                     # a second HTTP server for benchmarks
  chromium                        # status page tests in headless Chromium
  systemd                         # systemd-analyze verify for the units
  docker-registry skopeo apache2-utils # a real OCI registry, an independent client, htpasswd -B
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-debian: all packages present"
  exit 0
fi
$SUDO debconf-set-selections <<'SEL'
glance-common glance/configure_db boolean false
glance-common glance/configure_rabbit boolean false
glance-common glance/configure_ksat boolean false
glance-api glance/configure_api-endpoint boolean false
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
igtf-policy-classic igtf-policy/location multiselect /etc/grid-security/certificates
igtf-policy-classic igtf-policy-classic/install_profile boolean true
SEL
created=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  created=1
fi
trap '[ "$created" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
echo "install-debian: installing ${missing[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
if [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now glance-api keystone squid nginx docker-registry 2>/dev/null || true
fi
