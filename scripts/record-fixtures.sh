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
  --ssl-ca="$tmp/ca.pem" --ssl-cert="$tmp/server.pem" --ssl-key="$tmp/server-key.pem" --log-error="$tmp/error.log" &
pids+=($!)
for _ in $(seq 100); do mariadb --no-defaults --socket="$sock" -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
root() { mariadb --no-defaults --socket="$sock" -uroot "$@"; }
root -e "CREATE USER fx_native@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('fx-native-pw');
         CREATE USER fx_ed@'%' IDENTIFIED VIA ed25519 USING PASSWORD('fx-ed-pw');
         GRANT ALL ON *.* TO fx_native@'%'; GRANT ALL ON *.* TO fx_ed@'%'; CREATE DATABASE fxdb;"
version=$(root -N -e 'select version()')

cli() { mariadb --no-defaults -h127.0.0.1 -P"$port" --protocol=tcp "$@"; }
record() { # NAME DESCRIPTION COMMAND...
  local name=$1 desc=$2; shift 2
  tcpdump -i lo -U -s 0 -w "$out/$name.pcap" "tcp port $port" 2>/dev/null &
  local tp=$!
  sleep 1
  "$@" >/dev/null 2>&1 || true
  sleep 1
  kill "$tp"; wait "$tp" 2>/dev/null || true
  printf '| %s.pcap | %s |\n' "$name" "$desc" >> "$tmp/table.md"
  printf '%s\t%s\n' "$name" "$port" >> "$tmp/ports.tsv"
}

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
record too-many-connections "11 PyMySQL sessions held open against max_connections=10: ERR 1040 after a login, then ERR 1040 in place of the greeting" \
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

mv "$tmp/ports.tsv" "$out/ports.tsv"
{
  echo "# fixtures/: real captures from a private MariaDB"
  echo
  echo "Recorded by \`scripts/record-fixtures.sh\` on $(date -u +%Y-%m-%d) from a private \`mariadbd\` ($version) on 127.0.0.1"
  echo "(port in \`ports.tsv\`, max_connections=10, TLS with a throwaway CA), with \`tcpdump -i lo -s 0\` (Linux cooked or"
  echo "Ethernet-style loopback link type, as tcpdump chooses). Clients: the mariadb CLI ($(mariadb --version | head -c 60)...)"
  echo "and PyMySQL $(python3 -c 'import pymysql;print(pymysql.__version__)'). Passwords are throwaway test values."
  echo "\`NAME.pcap.tshark.txt\` is the tshark oracle, made with the command in ../shared/captures/public/PROVENANCE.md."
  echo
  echo "| file | how it was made |"
  echo "| --- | --- |"
  cat "$tmp/table.md"
} > "$out/README.md"
rm -f "$out"/*.tshark.txt
cargo build --quiet --release -p handshake-probe
python3 scripts/conformance.py target/release/handshake-probe "$out" || true
echo "record-fixtures: wrote $(ls "$out"/*.pcap | wc -l) captures to $out/"
