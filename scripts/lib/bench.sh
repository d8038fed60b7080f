# Sourced by the benchmark and screenshot scripts: everything they share
# before their own work.
#   bench_start NAME [mariadbd options...]
# runs setup.sh and a release build, makes a temporary directory ($dir),
# starts a private MariaDB in it ($port), and on exit ends the processes
# the caller started and listed in $pids (by PID), stops the server and
# removes the directory.
pids=()

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${dir:-}" ] && bash scripts/private-mariadb.sh stop "$dir/db"
  [ -n "${dir:-}" ] && rm -rf "$dir"
}

bench_start() {
  local name=$1
  shift
  bash scripts/setup.sh
  cargo build --release -q
  dir=$(mktemp -d "/tmp/hsp-$name-XXXXXX")
  trap bench_cleanup EXIT
  port=$(bash scripts/private-mariadb.sh start "$dir/db" "$@")
}
