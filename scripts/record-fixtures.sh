#!/usr/bin/env bash
# Records real MySQL-protocol captures from a private MariaDB into fixtures/
# (or into the directory given as the first argument).
#
# Starts its own mariadbd (temporary datadir, 127.0.0.1, a free port, TLS
# certificates made here), runs tcpdump on loopback for that port only, and
# drives two independent clients (the mariadb CLI and PyMySQL) through each
# scenario, one capture file per scenario. Then writes fixtures/ports.tsv and
# the tshark oracle (NAME.tshark.txt) beside each capture.
# Only the processes started here are stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${1:-fixtures}
mkdir -p "$out"
tmp=$(mktemp -d /tmp/hsp-record-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$tmp"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sock=$tmp/mysqld.sock
mariadb-install-db --no-defaults --datadir="$tmp/data" --auth-root-authentication-method=normal --skip-test-db --user=root >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=hsp-fixture-ca -keyout "$tmp/ca-key.pem" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$tmp/server-key.pem" -out "$tmp/server.csr" 2>/dev/null
echo "subjectAltName=IP:127.0.0.1" > "$tmp/san.ext"
openssl x509 -req -days 2 -CAcreateserial -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca-key.pem" -extfile "$tmp/san.ext" -out "$tmp/server.pem" 2>/dev/null
/usr/sbin/mariadbd --no-defaults --datadir="$tmp/data" --socket="$sock" --port="$port" --bind-address=127.0.0.1 \
  --user=root --skip-name-resolve --skip-log-bin --max-connections=10 --plugin-load-add=auth_ed25519 \
  --ssl-ca="$tmp/ca.pem" --ssl-cert="$tmp/server.pem" --ssl-key="$tmp/server-key.pem" --log-error="$tmp/error.log" \
  --log-warnings=4 &
pids+=($!)
for _ in $(seq 100); do mariadb --no-defaults --socket="$sock" -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
root() { mariadb --no-defaults --socket="$sock" -uroot "$@"; }
root -e "CREATE USER fx_native@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('fx-native-pw');
         CREATE USER fx_ed@'%' IDENTIFIED VIA ed25519 USING PASSWORD('fx-ed-pw');
         GRANT ALL ON *.* TO fx_native@'%'; GRANT ALL ON *.* TO fx_ed@'%'; CREATE DATABASE fxdb;"
version=$(root -N -e 'select version()')

cli() { mariadb --no-defaults -h127.0.0.1 -P"$port" --protocol=tcp "$@"; }
# The error log of the server being recorded (log_warnings=4): each capture
# gets it beside it as NAME.error.log, as it stood when the capture ended.
errlog=$tmp/error.log
record() { # NAME DESCRIPTION COMMAND...
  local name=$1 desc=$2; shift 2
  tcpdump -i lo -U -s 0 -w "$out/$name.pcap" "tcp port $port" 2>/dev/null &
  local tp=$!
  sleep 1
  "$@" >/dev/null 2>&1 || true
  sleep 1
  kill "$tp"; wait "$tp" 2>/dev/null || true
  cp "$errlog" "$out/$name.error.log"
  printf '| %s.pcap | %s |\n' "$name" "$desc" >> "$tmp/table.md"
  printf '%s\t%s\n' "$name" "$port" >> "$tmp/ports.tsv"
}

# Expected verdicts (fixtures/expected-verdicts.tsv), from scripts/lib/expect.sh.
EXPECTED=$tmp/expected.tsv
. scripts/lib/expect.sh
hp=target/release/handshake-probe
cargo build --quiet --release -p handshake-probe

record cli-native-query "mariadb CLI (no TLS), mysql_native_password login, db=fxdb, SELECT @@connect_timeout, SHOW GLOBAL STATUS LIKE 'Aborted%', quit" \
  cli --skip-ssl -ufx_native -pfx-native-pw fxdb -e "SELECT @@connect_timeout; SHOW GLOBAL STATUS LIKE 'Aborted%'"
record pymysql-native "PyMySQL 1.1 (no TLS), mysql_native_password login, SELECT 1, quit" \
  python3 -c "import pymysql; c=pymysql.connect(host='127.0.0.1',port=$port,user='fx_native',password='fx-native-pw',ssl_disabled=True); cur=c.cursor(); cur.execute('SELECT 1'); c.close()"
record wrong-password "mariadb CLI with a wrong password: login then ERR 1045" \
  cli --skip-ssl -ufx_native -pnot-the-password -e "SELECT 1"
record auth-switch-ed25519 "mariadb CLI as an ed25519 user: login with mysql_native_password, AuthSwitchRequest to client_ed25519, signature, OK" \
  cli --skip-ssl -ufx_ed -pfx-ed-pw -e "SELECT 1"
record auth-switch-native "mariadb CLI with --default-auth=client_ed25519 as a native user: AuthSwitchRequest to mysql_native_password, OK" \
  cli --skip-ssl --default-auth=client_ed25519 -ufx_native -pfx-native-pw -e "SELECT 1"
record tls-login "mariadb CLI with --ssl: greeting, SSLRequest, TLS (login encrypted)" \
  cli --ssl --ssl-ca="$tmp/ca.pem" -ufx_native -pfx-native-pw -e "SELECT 1"
record compressed-query "mariadb CLI with --compress: zlib compressed protocol after the login OK, SELECT REPEAT('x',500)" \
  cli --skip-ssl --compress -ufx_native -pfx-native-pw -e "SELECT REPEAT('x',500)"
# max_connections=10: the 10 sessions held open (the 10th login gets ERR
# 1040 after the login), then one more gets ERR 1040 in place of the greeting.
record too-many-connections "12 PyMySQL sessions tried against max_connections=10 as a user with all privileges: 11 logins succeed (MariaDB keeps one extra connection for SUPER), the 12th gets ERR 1040 in place of the greeting" \
  python3 - "$port" <<'PY'
import sys, pymysql, socket
port = int(sys.argv[1])
held = []
for _ in range(12):
    try:
        held.append(pymysql.connect(host='127.0.0.1', port=port, user='fx_native', password='fx-native-pw', ssl_disabled=True))
    except pymysql.err.OperationalError:
        pass
PY

for n in cli-native-query pymysql-native auth-switch-ed25519 auth-switch-native tls-login compressed-query; do
  expect "$n" all ok 10 0
done
expect wrong-password all auth_failed 10 0
expect too-many-connections stream=11 refused 10 0
for i in $(seq 0 10); do expect too-many-connections "stream=$i" ok 10 0; done
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

# --- A second server for the faults: connect_timeout=2, wait_timeout=2,
# max_allowed_packet=16K (the values MariaDB 10.11 clamps to, or near).
bash scripts/private-mariadb.sh start "$tmp/faults" --connect-timeout=2 --wait-timeout=2 \
  --max-allowed-packet=16384 --log-warnings=4 >/dev/null
port=$(cat "$tmp/faults/port")
errlog=$tmp/faults/error.log
record late-login "handshake-probe --login-delay 3s against connect_timeout=2: MariaDB resets each connection 2 s after its greeting, before the login (MySQL bug #28359)" \
  sh -c "$hp -n 3 -c 3 --login-delay 3s -u hsp_native --password=native-secret --ssl-mode DISABLED --no-server-status --connect-timeout 2s --format jsonl 127.0.0.1:$port > $tmp/late-login.jsonl"
expect_from_probe late-login 2 0 "$tmp/late-login.jsonl"
record silent-client "a Python client that reads the greeting and never sends its login; connect_timeout=2: RST after 2 s" \
  python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $port)); s.recv(1024); time.sleep(3.5); s.close()"
expect silent-client all server_timeout 2 0
record idle-timeout "PyMySQL logs in, stays silent 3 s, then COM_PING; wait_timeout=2: the server resets the session at 2 s" \
  python3 -c "
import time, pymysql
c = pymysql.connect(host='127.0.0.1', port=$port, user='hsp_native', password='native-secret', ssl_disabled=True)
time.sleep(3)
c.ping(reconnect=False)"
expect idle-timeout all idle_timeout 2 2
record packet-too-large "PyMySQL sends a 64 KiB query against max_allowed_packet=16K: ERR 1153, then a reset" \
  python3 -c "
import pymysql
c = pymysql.connect(host='127.0.0.1', port=$port, user='hsp_native', password='native-secret', ssl_disabled=True)
c.cursor().execute('SELECT \'' + 'x' * 65536 + '\'')"
expect packet-too-large all packet_too_large 2 2
# The server stopped (SIGSTOP) for 1.5 s while the probe connects every 50 ms.
record stopped-server "handshake-probe -n 30 --interval 50ms while mariadbd is stopped (SIGSTOP) for 1.5 s: greetings held up" \
  sh -c "($hp -n 30 -c 2 --interval 50ms --slow 500ms -u hsp_native --password=native-secret --ssl-mode DISABLED --no-server-status --connect-timeout 2s --format jsonl 127.0.0.1:$port > $tmp/stopped.jsonl) &
         p=\$!; sleep 0.3; kill -STOP $(cat "$tmp/faults/mariadbd.pid"); sleep 1.5; kill -CONT $(cat "$tmp/faults/mariadbd.pid"); wait \$p"
expect_from_probe stopped-server 2 0 "$tmp/stopped.jsonl"
# The same server killed (SIGKILL) while connections wait in their login delay.
record killed-server "handshake-probe -n 12 -c 3 --login-delay 500ms; mariadbd is killed (SIGKILL) after 1.2 s: in-flight handshakes are cut, later SYNs refused" \
  sh -c "($hp -n 12 -c 3 --login-delay 500ms -u hsp_native --password=native-secret --ssl-mode DISABLED --no-server-status --connect-timeout 2s --format jsonl 127.0.0.1:$port > $tmp/killed.jsonl) &
         p=\$!; sleep 1.2; kill -KILL $(cat "$tmp/faults/mariadbd.pid"); wait \$p"
expect_from_probe killed-server 2 0 "$tmp/killed.jsonl"
# Its connections after the kill never got a local address: SYN, then RST.
expect killed-server rest no_server 2 0
bash scripts/private-mariadb.sh stop "$tmp/faults"

# --- A blocked host: name resolution on (private hosts file, no DNS, in a
# mount namespace of its own), max_connect_errors=2; 127.0.0.2 abandons
# two handshakes, then the probe from 127.0.0.2 gets ERR 1129.
mkdir -p "$tmp/blocked"
printf '127.0.0.1 localhost\n127.0.0.2 hsp-client-two\n' > "$tmp/blocked/hosts"
: > "$tmp/blocked/resolv.conf"
mariadb-install-db --no-defaults --datadir="$tmp/blocked/data" --auth-root-authentication-method=normal --skip-test-db --user=root >/dev/null
bport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
unshare -m sh -c "mount --bind '$tmp/blocked/hosts' /etc/hosts && mount --bind '$tmp/blocked/resolv.conf' /etc/resolv.conf && exec /usr/sbin/mariadbd --no-defaults --datadir='$tmp/blocked/data' --socket='$tmp/blocked/sock' --port=$bport --bind-address=127.0.0.1 --user=root --skip-log-bin --max-connect-errors=2 --log-error='$tmp/blocked/error.log' --log-warnings=4" &
pids+=($!)
for _ in $(seq 100); do mariadb --no-defaults --socket="$tmp/blocked/sock" -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
# Without an account for other hosts, 127.0.0.2 would get ERR 1130 instead
# of a greeting, and nothing would count toward max_connect_errors.
mariadb --no-defaults --socket="$tmp/blocked/sock" -uroot -e "CREATE USER hsp_native@'%' IDENTIFIED BY 'native-secret'"
port=$bport
errlog=$tmp/blocked/error.log
record blocked-host "from 127.0.0.2 (name resolution on, max_connect_errors=2): two handshakes abandoned after the greeting reach the limit (MariaDB 10.11 blocks at max_connect_errors, not above it), then ERR 1129 in place of the greeting" \
  sh -c "python3 -c \"
import socket, time
for _ in range(2):
    s = socket.socket(); s.bind(('127.0.0.2', 0)); s.connect(('127.0.0.1', $bport)); s.recv(1024); s.close(); time.sleep(0.1)
\"; $hp -n 1 --bind 127.0.0.2 --ssl-mode DISABLED --format jsonl 127.0.0.1:$bport > $tmp/blocked.jsonl"
expect blocked-host all client_abort 10 0
expect_from_probe blocked-host 10 0 "$tmp/blocked.jsonl"

kill "${pids[-1]}" 2>/dev/null || true
bash scripts/record-netfaults.sh "$out" "$tmp/expected.tsv" "$tmp/ports.tsv" "$tmp/table.md"

mv "$tmp/ports.tsv" "$out/ports.tsv"
mv "$tmp/expected.tsv" "$out/expected-verdicts.tsv"
{
  echo "# fixtures/: real captures from a private MariaDB"
  echo
  echo "Recorded by \`scripts/record-fixtures.sh\` on $(date -u +%Y-%m-%d) from a private \`mariadbd\` ($version) on 127.0.0.1"
  echo "(port in \`ports.tsv\`; the first eight: max_connections=10, TLS with a throwaway CA; the fault captures: servers of"
  echo "their own with the options named below), with \`tcpdump -i lo -s 0\` (Linux cooked or"
  echo "Ethernet-style loopback link type, as tcpdump chooses). Clients: the mariadb CLI ($(mariadb --version | head -c 60)...)"
  echo "and PyMySQL $(python3 -c 'import pymysql;print(pymysql.__version__)'). Passwords are throwaway test values."
  echo "\`NAME.pcap.tshark.txt\` is the tshark oracle, made with the command in ../shared/captures/public/PROVENANCE.md."
  echo
  echo "\`expected-verdicts.tsv\` holds the verdict each connection must get (capture, key, verdict, connect_timeout and"
  echo "wait_timeout in seconds for the rules, 0 for unknown); where handshake-probe drove the client, its own records give them."
  echo
  echo 'Every capture has its server'\''s error log beside it, `NAME.error.log` (log_warnings=4, as it stood when the capture'
  echo 'ended): the lines name connections by the thread id their greeting carries.'
  echo
  echo 'The captures from `net-lost-greeting-client.pcap` on (in the table) are the hard cases of the verdict rules, recorded by'
  echo '`scripts/record-hardcases.sh` (run by record-fixtures.sh at its end, or alone) from the same MariaDB'
  echo 'build: through a router namespace (10.79.x; iptables in the router drops or rejects, captured at both ends at once),'
  echo 'and on loopback (PHP 8.2 mysqlnd, prometheus-mysqld-exporter'\''s Go driver, raw Python sockets, TLS with throwaway'
  echo 'CAs). `quit-lost.pcap` is `cli-native-query.pcap` with its COM_QUIT frame removed by `editcap`: a capture that lost'
  echo 'a packet the peer acknowledged. `net-nat-*.pcap` come from `scripts/record-nat.sh`. `snaplen-96.pcap`, `midstream-pooled.pcap`, `after-greeting.pcap` and `server-log.pcap` come from `scripts/record-partial.sh`'
  echo '(a real `tcpdump -s 96`, as production captures are taken). The `net-loss` lines of `expected-verdicts.tsv` were pinned one by one after review'
  echo '(see the comment there); a fresh recording gets the probe'\''s verdict or network_stall for them.'
  echo
  echo "| file | how it was made |"
  echo "| --- | --- |"
  cat "$tmp/table.md"
} > "$out/README.md"
rm -f "$out"/*.tshark.txt
cargo build --quiet --release -p handshake-probe
python3 scripts/conformance.py target/release/handshake-probe "$out" || true
# The hard cases of the verdict rules add their captures and lines.
bash scripts/record-hardcases.sh "$out"
# The partial captures (snaplen, mid-stream) add theirs.
bash scripts/record-partial.sh "$out"
# The NAT pair (two vantage points through an address and port rewrite).
bash scripts/record-nat.sh "$out"
# net-loss's random losses: the expectations above allow the probe's
# verdict or network_stall; the committed file pins each connection after
# review against its TCP evidence (see the comment there).
echo "record-fixtures: wrote $(ls "$out"/*.pcap | wc -l) captures to $out/"
