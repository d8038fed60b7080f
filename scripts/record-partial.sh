#!/usr/bin/env bash
# Records the partial captures of issue 10 (headers-only and cut-short
# captures) from a real server into fixtures/ (or DIR), replacing the lines
# these captures own in expected-verdicts.tsv, ports.tsv and the README:
#
#   - snaplen-96.pcap: `tcpdump -s 96`, as production captures are taken
#     to keep passwords and rows out of the file (30 bytes of TCP payload
#     per frame on loopback), of a private mariadbd with connect_timeout=2
#     and max_connections=10 (MariaDB's least): normal logins, late logins dropped at
#     connect_timeout, a client that never logs in, and logins refused with
#     ERR 1040 while PyMySQL holds every connection slot.
#
# Usage: scripts/record-partial.sh [DIR]
# Only what is started here is stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${1:-fixtures}
mkdir -p "$out"
tmp=$(mktemp -d /tmp/hsp-partial-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  bash scripts/private-mariadb.sh stop "$tmp/db" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
cargo build --quiet --release -p handshake-probe
hp=$PWD/target/release/handshake-probe
names=()
: > "$tmp/expected.tsv"; : > "$tmp/ports.tsv"; : > "$tmp/table.md"
EXPECTED=$tmp/expected.tsv
. scripts/lib/expect.sh

port=$(bash scripts/private-mariadb.sh start "$tmp/db" --connect-timeout=2 --max-connections=10)
login=(-u hsp_native --password=native-secret --ssl-mode DISABLED --no-server-status --connect-timeout 2s --format jsonl)

# --- snaplen-96.pcap
name=snaplen-96
tcpdump -i lo -U -s 96 -w "$out/$name.pcap" "tcp port $port" 2>/dev/null &
tp=$!
pids+=("$tp")
sleep 1
"$hp" -n 3 "${login[@]}" "127.0.0.1:$port" > "$tmp/normal.jsonl" || true
expect_from_probe "$name" 2 0 "$tmp/normal.jsonl"
"$hp" -n 2 -c 2 --login-delay 3s "${login[@]}" "127.0.0.1:$port" > "$tmp/late.jsonl" || true
expect_from_probe "$name" 2 0 "$tmp/late.jsonl"
silent=$(python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $port)); s.recv(1024)
print('%s:%d' % s.getsockname()); time.sleep(3.5); s.close()")
expect "$name" "client=$silent" server_timeout 2 0
# MariaDB lets a user with SUPER use one slot past max_connections: eleven
# sessions fill every slot, then the probe's logins are refused.
python3 - "$port" "$tmp/held" <<'PY' &
import sys, time, pymysql
port, flag = int(sys.argv[1]), sys.argv[2]
held = [pymysql.connect(host='127.0.0.1', port=port, user='hsp_native', password='native-secret',
                        ssl_disabled=True) for _ in range(11)]
with open(flag, 'w') as f:
    for c in held:
        f.write('%s:%d\n' % c._sock.getsockname())
time.sleep(3)
for c in held:
    c.close()
PY
holder=$!
pids+=("$holder")
for _ in $(seq 50); do [ -s "$tmp/held" ] && break; sleep 0.1; done
"$hp" -n 2 "${login[@]}" "127.0.0.1:$port" > "$tmp/refused.jsonl" || true
expect_from_probe "$name" 2 0 "$tmp/refused.jsonl"
wait "$holder"
while read -r c; do expect "$name" "client=$c" ok 2 0; done < "$tmp/held"
sleep 1
kill "$tp"; wait "$tp" 2>/dev/null || true
names+=("$name")
printf '| %s.pcap | `tcpdump -s 96` (30 bytes of TCP payload per frame) against connect_timeout=2, max_connections=10: 3 probe logins, 2 probe logins 3 s late (reset at connect_timeout), a raw client that never logs in, 11 PyMySQL sessions filling every slot while 2 probe logins get ERR 1040 |\n' "$name" >> "$tmp/table.md"
printf '%s\t%s\n' "$name" "$port" >> "$tmp/ports.tsv"
bash scripts/private-mariadb.sh stop "$tmp/db"

# --- Merge: replace the lines these captures own.
python3 scripts/lib/merge_fixtures.py "$out" "$tmp" "${names[@]}"
for n in "${names[@]}"; do rm -f "$out/$n.pcap.tshark.txt"; done
python3 scripts/conformance.py "$hp" "$out" || true
echo "record-partial: recorded ${#names[@]} captures into $out/"
