#!/usr/bin/env bash
# Records the hard cases of the verdict rules (docs/verdicts.md, issue 9)
# from real servers and real kernels into fixtures/ (or DIR), replacing
# the lines these captures own in expected-verdicts.tsv, ports.tsv and the
# README table:
#
#   through a router namespace (scripts/lib/netns.sh), captured at both
#   ends at once (NAME-client.pcap, NAME-server.pcap):
#   - a greeting, a login and an OK each lost once (iptables drops every
#     other packet with that MySQL header, so the first copy of each);
#   - an OK lost until the client gives up;
#   - a router resetting with `REJECT --reject-with tcp-reset`: the login,
#     an idle session toward the client, an idle session toward the server;
#   - controls through the same router: the server's own wait_timeout RST,
#     a client's linger-0 RST;
#   on loopback, a private mariadbd of its own:
#   - clients no one here wrote (PHP's mysqlnd, the Go driver in
#     prometheus-mysqld-exporter) getting query errors in the command phase;
#   - malformed logins answered by ERR 1043 and 1156;
#   - a listen queue overflow (back_log=1, the server stopped by SIGSTOP
#     while the probe connects);
#   - TLS refused by the client (a wrong CA; TLS 1.2 and 1.3) and by the
#     server (a TLS version it does not accept);
#   - a COM_QUIT the capture lost (editcap -d on a real capture).
#
# Usage: scripts/record-hardcases.sh [DIR]   (root: namespaces, iptables)
# Only what is started here is stopped, by PID; the namespaces are deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/record.sh
. scripts/lib/netns.sh
record_start hard "${1:-}"
command -v php >/dev/null && command -v prometheus-mysqld-exporter >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    php-cli php-mysql prometheus-mysqld-exporter >/dev/null
at_exit netns_down
at_exit 'bash scripts/private-mariadb.sh stop "$tmp/lo" >/dev/null 2>&1'

# --- Through a router. connect_timeout=2, wait_timeout=3.
netns_up hsph 10.79
netns_mariadbd "$tmp/ns" --connect-timeout=2 --wait-timeout=3 --log-warnings=4
pids+=("$NS_MARIADBD_PID")
netns_native_user "$tmp/ns"
fw() { ip netns exec "$NS_RT" iptables "$@"; }
# The first 4 bytes of the TCP payload, for iptables' u32 match: the MySQL
# header (3 bytes of length, little-endian, then the sequence id).
HDR='0>>22&0x3C@12>>26&0x3C@0'
BODY='0>>22&0x3C@12>>26&0x3C@4'
GREETING=(-p tcp --sport 3306 -m u32 --u32 "$HDR&0xFF=0x0 && $BODY>>24=0x0a")
LOGIN=(-p tcp --dport 3306 -m u32 --u32 "$HDR&0xFF=0x1" -m length --length 80:65535)
OKPKT=(-p tcp --sport 3306 -m u32 --u32 "$HDR&0xFF=0x2 && $BODY>>24=0x0")
CLIENT_DATA=(-p tcp -s "$CLIENT_IP" --dport 3306 -m length --length 53:65535)
SERVER_DATA=(-p tcp -d "$CLIENT_IP" --sport 3306 -m length --length 53:65535)
EVERY_OTHER=(-m statistic --mode nth --every 2 --packet 0)
probe() { # JSONL PROBE_ARGS...: the probe in the client namespace
  local jsonl=$1; shift
  ip netns exec "$NS_CL" "$hp" "$@" -u hsp_native --password=native-secret --ssl-mode DISABLED \
    --no-server-status --connect-timeout 2s --format jsonl "$SERVER_IP:3306" > "$jsonl" || true
}
py() { ip netns exec "$NS_CL" python3 -c "$1" || true; }
PYCONN="import pymysql, socket, time
c = pymysql.connect(host='$SERVER_IP', user='hsp_native', password='native-secret', ssl_disabled=True, read_timeout=3)"

# netcap NAME DESCRIPTION COMMAND...: COMMAND runs with tcpdump at both ends.
netcap() {
  local name=$1 desc=$2; shift 2
  ip netns exec "$NS_CL" tcpdump -i "$NS_IFACE_CL" -U -s 0 -w "$out/$name-client.pcap" tcp port 3306 2>/dev/null &
  local t1=$!
  ip netns exec "$NS_SV" tcpdump -i "$NS_IFACE_SV" -U -s 0 -w "$out/$name-server.pcap" tcp port 3306 2>/dev/null &
  local t2=$!
  sleep 1
  "$@"
  sleep 1
  fw -F FORWARD
  kill "$t1" "$t2"; wait "$t1" "$t2" 2>/dev/null || true
  for side in client server; do
    # The server's error log (log_warnings=4) as it stood at the end.
    cp "$tmp/ns/error.log" "$out/$name-$side.error.log"
    names+=("$name-$side")
    printf '| %s-%s.pcap | %s; captured at the %s |\n' "$name" "$side" "$desc" "$side" >> "$tmp/table.md"
    printf '%s-%s\t3306\n' "$name" "$side" >> "$tmp/ports.tsv"
  done
}

lost_once() { # RULE_NAME JSONL
  local -n rule=$1
  fw -A FORWARD "${rule[@]}" "${EVERY_OTHER[@]}" -j DROP
  probe "$2" -n 3 -c 1 --interval 300ms
}
netcap net-lost-greeting "the greeting's first copy dropped in the router (every other greeting), 3 probe handshakes one at a time" \
  lost_once GREETING "$tmp/greeting.jsonl"
# From the client, a greeting late by one RTO looks like a server that
# took that long; the server's capture shows its first copy unanswered.
expect_from_probe net-lost-greeting-client 2 3 "$tmp/greeting.jsonl"
expect net-lost-greeting-server all network_stall 2 3
netcap net-lost-login "the login's first copy dropped in the router (every other login), 3 probe handshakes one at a time" \
  lost_once LOGIN "$tmp/login.jsonl"
expect_from_probe net-lost-login-client 2 3 "$tmp/login.jsonl"
# The server receives the login once, late by one RTO: from its side the
# client took that long (under --slow: ok).
expect net-lost-login-server all ok 2 3
netcap net-lost-ok "the OK's first copy dropped in the router (every other OK), 3 probe handshakes one at a time" \
  lost_once OKPKT "$tmp/ok.jsonl"
expect net-lost-ok-client all ok 2 3
expect net-lost-ok-server all network_stall 2 3

ok_blackhole() {
  fw -A FORWARD "${OKPKT[@]}" -j DROP
  probe "$tmp/okhole.jsonl" -n 2 -c 2 --timeout 3s
  # The server keeps retransmitting its OK (next at about 6 s): let one
  # through, so that the client's kernel resets the server's socket here
  # and not in the next run's capture.
  fw -F FORWARD
  sleep 5
}
netcap net-ok-blackhole "every OK dropped in the router; the probe gives up after 3 s (--timeout 3s), or the server's wait_timeout (3 s) resets first" ok_blackhole
# The probe saw only a silent server (server_slow) or its reset
# (server_timeout); the client's capture shows more: the server's RST
# counts the 11 OK bytes that never arrived, or the OK's late copy arrives
# after the client gave up and is never acknowledged.
expect net-ok-blackhole-client all network_stall 2 3
expect net-ok-blackhole-server all network_stall 2 3

reject_login() {
  fw -A FORWARD "${LOGIN[@]}" -j REJECT --reject-with tcp-reset
  probe "$tmp/reject-login.jsonl" -n 2 -c 2
  sleep 2.5 # the server's own RST at connect_timeout follows
}
netcap net-reject-login "the router answers the login with a RST in the server's name (REJECT --reject-with tcp-reset)" reject_login
# The probe cannot see a RST's TTL (server_reset from its socket); the
# client's capture can. The server never got the login.
expect net-reject-login-client all middlebox_reset 2 3
expect net-reject-login-server all server_timeout 2 3

reject_idle() { # RULE_NAME: an idle session's next query meets the rule
  local -n rule=$1
  py "$PYCONN
time.sleep(1)
import subprocess
subprocess.run(['ip', 'netns', 'exec', '$NS_RT', 'iptables', '-A', 'FORWARD', *'${rule[*]}'.split(), '-j', 'REJECT', '--reject-with', 'tcp-reset'], check=True)
try:
    c.cursor().execute('SELECT 1')
except Exception as e:
    print('client:', e)
time.sleep(4)"
}
netcap net-reject-idle-to-client "PyMySQL logs in and idles 1 s; the router then answers its query with a RST in the server's name" \
  reject_idle CLIENT_DATA
expect net-reject-idle-to-client-client all middlebox_reset 2 3
# The server never heard of it: its session ends at wait_timeout.
expect net-reject-idle-to-client-server all idle_timeout 2 3
netcap net-reject-idle-to-server "PyMySQL logs in and idles 1 s; the router answers the server's reply with a RST in the client's name" \
  reject_idle SERVER_DATA
# The client's query is never answered: the server's socket was reset.
# Its retransmitted query meets the server kernel's RST for a socket it no
# longer has (no timestamp): from the client, the server reset it.
expect net-reject-idle-to-server-client all server_reset 2 3
expect net-reject-idle-to-server-server all middlebox_reset 2 3

netcap net-wait-timeout "control: PyMySQL idles 4 s through the router, wait_timeout=3: the server's own RST" \
  py "$PYCONN
time.sleep(4.5)"
expect net-wait-timeout-client all idle_timeout 2 3
expect net-wait-timeout-server all idle_timeout 2 3
netcap net-client-linger0 "control: PyMySQL logs in, runs SELECT 1, then closes with SO_LINGER 0 (a client's own RST)" \
  py "$PYCONN
import struct
c.cursor().execute('SELECT 1')
c._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
c._sock.close()"
expect net-client-linger0-client all ok 2 3
expect net-client-linger0-server all ok 2 3
netns_down

# --- Loopback: a private mariadbd of its own.
bash scripts/private-mariadb.sh start "$tmp/lo" --connect-timeout=2 --back-log=1 --log-warnings=4 >/dev/null
port=$(cat "$tmp/lo/port")
lo_record() { # NAME DESCRIPTION COMMAND...
  local name=$1 desc=$2; shift 2
  tcpdump -i lo -U -s 0 -w "$out/$name.pcap" "tcp port $port" 2>/dev/null &
  local tp=$!
  sleep 1
  "$@" || true
  sleep 1
  kill "$tp"; wait "$tp" 2>/dev/null || true
  cp "$tmp/lo/error.log" "$out/$name.error.log"
  names+=("$name")
  printf '| %s.pcap | %s |\n' "$name" "$desc" >> "$tmp/table.md"
  printf '%s\t%s\n' "$name" "$port" >> "$tmp/ports.tsv"
}
root() { mariadb --no-defaults --socket="$tmp/lo/mysqld.sock" -uroot "$@"; }
root -e "CREATE USER hsp_plain@'%' IDENTIFIED BY 'plain-secret'; GRANT SELECT ON mysql.* TO hsp_plain@'%';"
lo_record query-errors-php "PHP $(php -r 'echo PHP_VERSION;') mysqlnd logs in, gets ERR 1064 and 1146 for two queries, closes (COM_QUIT)" \
  php -r "
mysqli_report(MYSQLI_REPORT_OFF);
\$c = new mysqli('127.0.0.1', 'hsp_plain', 'plain-secret', '', $port);
\$c->query('SELEC 1'); \$c->query('SELECT * FROM nowhere.nothing'); \$c->close();"
expect query-errors-php all ok 2 0
printf '[client]\nuser=hsp_plain\npassword=plain-secret\nhost=127.0.0.1\nport=%s\n' "$port" > "$tmp/exporter.cnf"
scrape_exporter() {
  local eport
  eport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  prometheus-mysqld-exporter --config.my-cnf="$tmp/exporter.cnf" --web.listen-address="127.0.0.1:$eport" >"$tmp/exporter.log" 2>&1 &
  local ep=$!
  pids+=("$ep")
  python3 - "$eport" <<'PY'
import sys, time, urllib.request
for _ in range(50):
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read()
        break
    except OSError:
        time.sleep(0.1)
print("exporter: mysql_up" , [l for l in body.decode().splitlines() if l.startswith("mysql_up")])
PY
  sleep 0.5
  kill "$ep"; wait "$ep" 2>/dev/null || true
}
lo_record query-errors-go "prometheus-mysqld-exporter $(prometheus-mysqld-exporter --version 2>&1 | head -1 | grep -o 'version [0-9.]*') (Go driver) scraped once as a user without PROCESS or REPLICATION privileges: query errors in the command phase, then COM_QUIT" \
  scrape_exporter
expect query-errors-go all ok 2 0

# Malformed logins: MariaDB answers a 3-byte login with ERR 1043 (Bad
# handshake) and a login with sequence id 5 with ERR 1156 (Got packets
# out of order). The server describes the client's bytes.
bad_login() { # PAYLOAD_HEX SEQ
  python3 - "$port" "$1" "$2" <<'PY'
import socket, sys, time
port, payload, seq = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port)); s.recv(1024)
s.send(len(payload).to_bytes(3, "little") + bytes([seq]) + payload)
time.sleep(0.3); print("server:", s.recv(1024)[7:]); s.close()
PY
}
lo_record bad-handshake "a Python client sends a 3-byte login after the greeting: ERR 1043 Bad handshake" \
  bad_login 000000 1
expect bad-handshake all protocol_error 2 0
lo_record packets-out-of-order "a Python client sends its login with sequence id 5: ERR 1156 Got packets out of order" \
  bad_login "85a6ff01$(printf '00%.0s' $(seq 28))6873705f6e617469766500" 5
expect packets-out-of-order all protocol_error 2 0

# A listen queue overflow: back_log=1 and the server stopped (SIGSTOP) for
# 1.5 s while 10 connections arrive at once: the kernel drops SYNs, the
# clients retransmit them. Nothing is lost in a network on loopback.
listen_overflow() {
  ("$hp" -n 20 -c 10 -u hsp_native --password=native-secret --ssl-mode DISABLED --no-server-status \
    --connect-timeout 2s --timeout 10s --format jsonl "127.0.0.1:$port" > "$tmp/backlog.jsonl" || true) &
  local p=$!
  sleep 0.05
  kill -STOP "$(cat "$tmp/lo/mariadbd.pid")"; sleep 1.5; kill -CONT "$(cat "$tmp/lo/mariadbd.pid")"
  wait "$p"
}
lo_record listen-overflow "handshake-probe -n 20 -c 10 against back_log=1 with mariadbd stopped (SIGSTOP) for 1.5 s: SYNs dropped by the full listen queue and retransmitted, on loopback" \
  listen_overflow
expect_from_probe listen-overflow 2 0 "$tmp/backlog.jsonl"

# TLS refused by either side: the record headers after the SSLRequest are
# in the clear. A throwaway CA for the server, another for the client.
mkdir -p "$tmp/tls"
for ca in server-ca wrong-ca; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=hsp-$ca" \
    -keyout "$tmp/tls/$ca-key.pem" -out "$tmp/tls/$ca.pem" 2>/dev/null
done
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$tmp/tls/server-key.pem" \
  -out "$tmp/tls/server.csr" 2>/dev/null
echo "subjectAltName=IP:127.0.0.1" > "$tmp/tls/san.ext"
openssl x509 -req -days 2 -CAcreateserial -in "$tmp/tls/server.csr" -CA "$tmp/tls/server-ca.pem" \
  -CAkey "$tmp/tls/server-ca-key.pem" -extfile "$tmp/tls/san.ext" -out "$tmp/tls/server.pem" 2>/dev/null
tls_server() { # TLS_VERSIONS
  bash scripts/private-mariadb.sh stop "$tmp/lo" >/dev/null
  rm -rf "$tmp/lo"
  bash scripts/private-mariadb.sh start "$tmp/lo" --connect-timeout=2 --ssl-ca="$tmp/tls/server-ca.pem" \
    --ssl-cert="$tmp/tls/server.pem" --ssl-key="$tmp/tls/server-key.pem" --tls-version="$1" --log-warnings=4 >/dev/null
  port=$(cat "$tmp/lo/port")
}
tls_probe() { # JSONL
  "$hp" -n 2 -u hsp_native --password=native-secret --ssl-mode VERIFY_CA --ssl-ca "$tmp/tls/wrong-ca.pem" \
    --no-server-status --connect-timeout 2s --format jsonl "127.0.0.1:$port" > "$1" || true
}
tls_server TLSv1.2,TLSv1.3
lo_record tls13-client-refuses "handshake-probe --ssl-mode VERIFY_CA with a CA that did not sign the server's certificate, TLS 1.3: the client's alert is encrypted, then it closes" \
  tls_probe "$tmp/tls13.jsonl"
expect_from_probe tls13-client-refuses 2 0 "$tmp/tls13.jsonl"
tls_server TLSv1.2
lo_record tls12-client-refuses "handshake-probe --ssl-mode VERIFY_CA with a CA that did not sign the server's certificate, TLS 1.2: the client's alert in the clear, then it closes" \
  tls_probe "$tmp/tls12.jsonl"
expect_from_probe tls12-client-refuses 2 0 "$tmp/tls12.jsonl"
lo_record tls-server-refuses "the mariadb CLI offers only TLS 1.3 to a server that accepts only TLS 1.2 (--tls-version): the server's alert protocol_version" \
  mariadb --no-defaults -h127.0.0.1 -P"$port" --protocol=tcp -uhsp_native -pnative-secret --ssl --tls-version=TLSv1.3 -e 'SELECT 1'
expect tls-server-refuses all refused 2 0
bash scripts/private-mariadb.sh stop "$tmp/lo"

# A COM_QUIT the capture lost: the frame removed from a real capture.
# The source is the cli-native-query of the same recording when there is one,
# so the error log of its server run is this capture's log too.
srcdir=fixtures
[ -f "$out/cli-native-query.pcap" ] && [ -f "$out/ports.tsv" ] && srcdir=$out
src=$srcdir/cli-native-query.pcap
src_port=$(awk -F'\t' '$1=="cli-native-query"{print $2}' "$srcdir/ports.tsv")
quit_frame=$(tshark -r "$src" -d "tcp.port==$src_port,mysql" -Y 'mysql.command == 1' -T fields -e frame.number | head -1)
[ -n "$quit_frame" ] || { echo "record-hardcases: no COM_QUIT in $src" >&2; exit 1; }
editcap -F pcap "$src" "$out/quit-lost.pcap" "$quit_frame"
[ -f "$srcdir/cli-native-query.error.log" ] && cp "$srcdir/cli-native-query.error.log" "$out/quit-lost.error.log"
names+=(quit-lost)
printf '| quit-lost.pcap | cli-native-query.pcap with its COM_QUIT (frame %s) removed by `editcap`: the server acknowledges 5 bytes the capture never saw, then closes |\n' "$quit_frame" >> "$tmp/table.md"
printf 'quit-lost\t%s\n' "$src_port" >> "$tmp/ports.tsv"
expect quit-lost all ok 10 0

record_merge record-hardcases
