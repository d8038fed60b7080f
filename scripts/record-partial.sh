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
#   - midstream-pooled.pcap: a pool of PyMySQL sessions logged in before
#     the capture started, each running a query and quitting (COM_QUIT)
#     while it runs: only the command phase is captured.
#   - after-greeting.pcap: raw clients that read their greetings before
#     the capture started and log in (mysql_native_password) while it
#     runs: the capture starts between greeting and login.
#   Both on the private server's random port, so `decode` finds them with
#   no --port (from the command phase's shape, the login's).
#   - server-log.pcap (whole frames): what the error log names by thread
#     id: a client that never logs in (connect_timeout), logins 3 s late,
#     a wrong password, a client that closes after the greeting, and a
#     normal login.
# The server runs with log_warnings=4; each capture's NAME.error.log is
# its error log as it stood when the capture ended (issue 11).
#
# Usage: scripts/record-partial.sh [DIR]
# Only what is started here is stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/record.sh
record_start partial "${1:-}"
at_exit 'bash scripts/private-mariadb.sh stop "$tmp/db" >/dev/null 2>&1'

port=$(bash scripts/private-mariadb.sh start "$tmp/db" --connect-timeout=2 --max-connections=10 --log-warnings=4)
# Each capture gets the server's error log beside it (NAME.error.log), as
# it stood when the capture ended: the lines of its connections join them.
save_log() { cp "$tmp/db/error.log" "$out/$1.error.log"; }
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
save_log "$name"
names+=("$name")
printf '| %s.pcap | `tcpdump -s 96` (30 bytes of TCP payload per frame) against connect_timeout=2, max_connections=10: 3 probe logins, 2 probe logins 3 s late (reset at connect_timeout), a raw client that never logs in, 11 PyMySQL sessions filling every slot while 2 probe logins get ERR 1040 |\n' "$name" >> "$tmp/table.md"
printf '%s\t%s\n' "$name" "$port" >> "$tmp/ports.tsv"

# --- midstream-pooled.pcap and after-greeting.pcap: the clients connect,
# then the capture starts, then they go on.
capture_after() { # NAME DESCRIPTION PYTHON-SCRIPT: the script writes its
  # clients' addresses to $1 once connected, then waits for $2 to exist.
  local name=$1 desc=$2 script=$3
  rm -f "$tmp/ready" "$tmp/go"
  python3 -c "$script" "$tmp/ready" "$tmp/go" "$port" &
  local py=$!
  pids+=("$py")
  for _ in $(seq 100); do [ -s "$tmp/ready" ] && break; sleep 0.1; done
  tcpdump -i lo -U -s 0 -w "$out/$name.pcap" "tcp port $port" 2>/dev/null &
  local tp=$!
  pids+=("$tp")
  sleep 1
  touch "$tmp/go"
  wait "$py"
  sleep 1
  kill "$tp"; wait "$tp" 2>/dev/null || true
  save_log "$name"
  while read -r c; do expect "$name" "client=$c" incomplete 2 0; done < "$tmp/ready"
  names+=("$name")
  printf '| %s.pcap | %s |\n' "$name" "$desc" >> "$tmp/table.md"
  printf '%s\t%s\n' "$name" "$port" >> "$tmp/ports.tsv"
}
capture_after midstream-pooled "4 PyMySQL sessions logged in before the capture started; each runs SELECT 1 and quits (COM_QUIT) while it runs: only the command phase is captured" '
import os, sys, time, pymysql
ready, go, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
pool = [pymysql.connect(host="127.0.0.1", port=port, user="hsp_native", password="native-secret",
                        ssl_disabled=True) for _ in range(4)]
with open(ready + ".tmp", "w") as f:
    for c in pool:
        f.write("%s:%d\n" % c._sock.getsockname())
os.rename(ready + ".tmp", ready)
while not os.path.exists(go):
    time.sleep(0.05)
for c in pool:
    cur = c.cursor(); cur.execute("SELECT 1"); cur.fetchall(); c.close()
'
capture_after after-greeting "3 raw clients read their greetings before the capture started, then log in (mysql_native_password), get OK and quit while it runs: the capture starts between greeting and login" '
import hashlib, os, socket, struct, sys, time
ready, go, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def packet(s):
    h = s.recv(4); n = h[0] | h[1] << 8 | h[2] << 16; b = b""
    while len(b) < n: b += s.recv(n - len(b))
    return h[3], b
socks = []
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", port)); _, g = packet(s)
    v = g.index(0, 1); salt = g[v + 5:v + 13] + g[v + 32:v + 44]
    socks.append((s, salt))
with open(ready + ".tmp", "w") as f:
    for s, _ in socks:
        f.write("%s:%d\n" % s.getsockname())
os.rename(ready + ".tmp", ready)
while not os.path.exists(go):
    time.sleep(0.05)
for s, salt in socks:
    p1 = hashlib.sha1(b"native-secret").digest()
    p2 = hashlib.sha1(salt + hashlib.sha1(p1).digest()).digest()
    auth = bytes(a ^ b for a, b in zip(p1, p2))
    caps = 0x0001 | 0x0200 | 0x8000 | 0x80000
    body = struct.pack("<IIB23x", caps, 1 << 24, 45) + b"hsp_native\0" + bytes([20]) + auth + b"mysql_native_password\0"
    s.sendall(struct.pack("<I", len(body))[:3] + b"\x01" + body)
    seq, ok = packet(s)
    assert ok[0] == 0, ok
    s.sendall(b"\x01\x00\x00\x00\x01"); s.close()
'

# --- server-log.pcap: connections the error log names, whole frames.
name=server-log
tcpdump -i lo -U -s 0 -w "$out/$name.pcap" "tcp port $port" 2>/dev/null &
tp=$!
pids+=("$tp")
sleep 1
silent=$(python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $port)); s.recv(1024)
print('%s:%d' % s.getsockname()); time.sleep(2.5); s.close()")
expect "$name" "client=$silent" server_timeout 2 0
closer=$(python3 -c "
import socket
s = socket.create_connection(('127.0.0.1', $port)); s.recv(1024)
print('%s:%d' % s.getsockname()); s.close()")
expect "$name" "client=$closer" client_abort 2 0
"$hp" -n 2 -c 2 --login-delay 3s "${login[@]}" "127.0.0.1:$port" > "$tmp/late2.jsonl" || true
expect_from_probe "$name" 2 0 "$tmp/late2.jsonl"
"$hp" -n 1 -u hsp_native --password=not-the-password --ssl-mode DISABLED --no-server-status \
  --connect-timeout 2s --format jsonl "127.0.0.1:$port" > "$tmp/denied.jsonl" || true
expect_from_probe "$name" 2 0 "$tmp/denied.jsonl"
"$hp" -n 1 "${login[@]}" "127.0.0.1:$port" > "$tmp/fine.jsonl" || true
expect_from_probe "$name" 2 0 "$tmp/fine.jsonl"
sleep 1
kill "$tp"; wait "$tp" 2>/dev/null || true
save_log "$name"
names+=("$name")
printf '| %s.pcap | connections the error log (log_warnings=4, %s.error.log) names by thread id, whole frames: a client that never logs in (connect_timeout=2), 2 probe logins 3 s late, a wrong password, a client that closes after the greeting, a normal login |\n' "$name" "$name" >> "$tmp/table.md"
printf '%s\t%s\n' "$name" "$port" >> "$tmp/ports.tsv"
bash scripts/private-mariadb.sh stop "$tmp/db"

record_merge record-partial
