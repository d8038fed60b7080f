#!/usr/bin/env bash
# serve's memory over many handshakes: a private MariaDB, serve with a
# module of 100 handshakes per /probe request, and scrapes in a loop until
# 10k and then 1M handshakes; the exporter's own process_resident_memory_bytes
# (from its /metrics) at each point, and its peak RSS from /proc.
#   HSP_HANDSHAKES=1000000 scripts/bench-serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
total=${HSP_HANDSHAKES:-1000000}
bench_start bench-serve --max-connections=200
cat >"$dir/serve.toml" <<TOML
[modules.burst]
count = 100
ssl_mode = "DISABLED"
TOML
target/release/handshake-probe serve --listen 127.0.0.1:0 --config "$dir/serve.toml" 2>"$dir/serve.err" &
serve_pid=$!
pids+=("$serve_pid")
for _ in $(seq 50); do grep -q "serving on" "$dir/serve.err" && break; sleep 0.1; done
addr=$(grep -o '127.0.0.1:[0-9]*' "$dir/serve.err" | head -1)
rss() { curl -s "http://$addr/metrics" | awk '/^process_resident_memory_bytes/ {printf "%.1f", $2 / 1048576}'; }
peak() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$serve_pid/status"; }
echo "| handshakes | RSS (process_resident_memory_bytes) | peak RSS (VmHWM) | wall |"
echo "| --- | --- | --- | --- |"
done_n=0
start=$(date +%s.%N)
for mark in 10000 "$total"; do
  while [ "$done_n" -lt "$mark" ]; do
    curl -s -o /dev/null "http://$addr/probe?target=127.0.0.1:$port&module=burst"
    done_n=$((done_n + 100))
  done
  now=$(date +%s.%N)
  echo "| $done_n | $(rss) MiB | $(peak) MiB | $(python3 -c "print(f'{$now - $start:.0f} s')") |"
done
