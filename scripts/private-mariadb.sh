#!/usr/bin/env bash
# A private MariaDB for demos and benchmarks (tests use crates/testkit):
#   scripts/private-mariadb.sh start DIR [--mysqld-option ...]   prints the TCP port
#   scripts/private-mariadb.sh stop DIR                          stops it by its PID
# The server listens on 127.0.0.1 only, with its own datadir, socket and
# pid file under DIR, skip-name-resolve, and the users of the test harness:
# hsp_native / native-secret (mysql_native_password) and hsp_ed25519 /
# ed25519-secret (ed25519). Nothing outside DIR is touched.
set -euo pipefail
cmd=${1:?usage: private-mariadb.sh start|stop DIR [options]}
dir=${2:?usage: private-mariadb.sh start|stop DIR [options]}
shift 2
case "$cmd" in
start)
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || {
    echo "private-mariadb: mariadbd not found; run scripts/setup.sh" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/tmp"   # a private tmpdir: bootstraps sharing /tmp can delete each other's temp tables
  TMPDIR="$dir/tmp" mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
    --skip-test-db --user=root >"$dir/install.log" 2>&1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  /usr/sbin/mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/mysqld.sock" --port="$port" \
    --tmpdir="$dir/tmp" --bind-address=127.0.0.1 --user=root --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
    --plugin-load-add=auth_ed25519 --innodb-buffer-pool-size=16M --skip-log-bin --skip-name-resolve \
    --max-connections=500 "$@" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/mariadbd.pid"
  for _ in $(seq 1 300); do
    [ -S "$dir/mysqld.sock" ] && mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.2
  done
  mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e "
    CREATE USER 'hsp_native'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('native-secret');
    GRANT ALL ON *.* TO 'hsp_native'@'%';
    CREATE USER 'hsp_ed25519'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed25519-secret');
    GRANT ALL ON *.* TO 'hsp_ed25519'@'%';" || { cat "$dir/error.log" >&2; exit 1; }
  echo "$port" >"$dir/port"
  echo "$port"
  ;;
stop)
  if [ -f "$dir/mariadbd.pid" ]; then
    pid=$(cat "$dir/mariadbd.pid")
    if grep -qF "$dir/data" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/mariadbd.pid"
  fi
  ;;
*) echo "private-mariadb: unknown command $cmd" >&2; exit 2 ;;
esac
