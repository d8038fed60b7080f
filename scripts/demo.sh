#!/usr/bin/env bash
# The main job on a fresh machine: installs what it needs, builds, starts a
# private MariaDB (temporary datadir, 127.0.0.1, connect_timeout=2), probes
# it three ways, decodes two recorded captures, and stops the server by its
# PID. Nothing outside a temporary directory is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -q
hp=target/release/handshake-probe
dir=$(mktemp -d /tmp/hsp-demo-XXXXXX)
trap 'bash scripts/private-mariadb.sh stop "$dir"; rm -rf "$dir"' EXIT
port=$(bash scripts/private-mariadb.sh start "$dir" --connect-timeout=2)

echo "== 1000 real logins, 4 at a time; the server's own counters are read before and after"
$hp -n 1000 -c 4 -u hsp_native --password=native-secret "127.0.0.1:$port"

echo
echo "== 200 probes without credentials: a login for a user that cannot exist, ERR 1045 expected."
echo "   The safe default: it never counts toward max_connect_errors."
$hp -n 200 -c 2 "127.0.0.1:$port" | sed -n '1,9p'

echo
echo "== MySQL bug #28359 on purpose: logins held 3 s after the greeting, server connect_timeout=2"
$hp -n 3 -c 3 -v --login-delay 3s -u hsp_native --password=native-secret "127.0.0.1:$port" | sed -n '1,3p' || true

echo
echo "== decoding captures recorded from a real MariaDB (scripts/record-fixtures.sh)"
fport=$(cut -f2 fixtures/ports.tsv | head -1)
for f in wrong-password too-many-connections; do
  echo "-- fixtures/$f.pcap"
  $hp decode --packets --port "$fport" "fixtures/$f.pcap" | head -8
done
