#!/usr/bin/env bash
# Sets up a fresh machine, starts a private MariaDB, records real handshakes
# from two clients (mariadb CLI and PyMySQL) and decodes them packet by
# packet, as Wireshark would. Nothing outside a temporary directory is
# touched; the server is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/hsp-demo-XXXXXX)
bash scripts/record-fixtures.sh "$dir" >/dev/null
port=$(cut -f2 "$dir/ports.tsv" | head -1)
for f in cli-native-query auth-switch-ed25519 wrong-password too-many-connections; do
  echo "== $f"
  target/release/handshake-probe decode --packets --port "$port" "$dir/$f.pcap" | grep -v 'Greeting proto' | head -12 || true
done
rm -rf "$dir"
