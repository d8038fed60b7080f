#!/usr/bin/env bash
# Installs, idempotently and without questions, everything handshake-probe needs
# on a fresh Debian/Ubuntu machine that already has a Rust toolchain:
#   - libpcap-dev          the `pcap` crate links against libpcap
#   - mariadb-server/-client  the private test server (mariadbd, mariadb-install-db)
#   - tshark, tcpdump      the conformance oracle and fixture recording
#   - iproute2, iptables   network namespaces and the router's faults (test-netns.sh)
#   - openssl              test certificates
#   - PyMySQL              an independent client for fixtures and baselines
#   - prometheus           a real Prometheus scrapes `serve` in a test (promtool checks the rules)
#   - hdrhistogram (PyPI)  an independent HdrHistogram for the interval-log tests
#   - chromium             renders the HTML reports in a test (headless)
# The Debian mariadb-server package starts a system mariadbd on install; we stop
# and disable it because tests always start their own private server.
set -euo pipefail

pkgs=(libpcap-dev mariadb-server mariadb-client tshark tcpdump iproute2 iptables openssl procps util-linux prometheus chromium)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  # Do not let the package start the system server (policy-rc.d 101 = deny).
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

# The ed25519 auth plugin ships with mariadb-server as a shared object.
if ! python3 -c 'import pymysql' 2>/dev/null; then
  echo "setup: installing PyMySQL" >&2
  python3 -m pip install -q 'PyMySQL==1.1.1' 2>/dev/null || python3 -m pip install -q --break-system-packages 'PyMySQL==1.1.1'
fi

# An independent HdrHistogram implementation: the interval-log tests read
# and write logs with it.
if ! python3 -c 'import hdrh' 2>/dev/null; then
  echo "setup: installing hdrhistogram" >&2
  python3 -m pip install -q 'hdrhistogram==0.10.8' 2>/dev/null || python3 -m pip install -q --break-system-packages 'hdrhistogram==0.10.8'
fi

command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { echo "setup: mariadbd not found after install" >&2; exit 1; }
echo "setup: ok ($(/usr/sbin/mariadbd --version 2>/dev/null | head -1))" >&2
