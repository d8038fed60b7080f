#!/usr/bin/env bash
# The README's screenshot: a private MariaDB, serve probing it every 250 ms,
# a real Prometheus scraping serve every second with the shipped config,
# the server frozen (SIGSTOP) for 3 s twice so that the p99 shows it, then
# headless Chromium photographs Prometheus's graph of the per-phase p99.
#   scripts/screenshot-prometheus.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/monitoring/prometheus-p99.png}
. scripts/lib/bench.sh
bench_start shot
command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
target/release/handshake-probe serve --listen 127.0.0.1:0 --target "127.0.0.1:$port" --interval 250ms 2>"$dir/serve.err" &
pids+=($!)
for _ in $(seq 50); do grep -q "serving on" "$dir/serve.err" && break; sleep 0.1; done
addr=$(grep -o '127.0.0.1:[0-9]*' "$dir/serve.err" | head -1)
web=127.0.0.1:$((20000 + RANDOM % 20000))
sed -e "s/127.0.0.1:9105/$addr/" -e "s/'db1:3306', 'db2:3306'/'127.0.0.1:$port'/" \
  -e "s/scrape_interval: 15s/scrape_interval: 1s/" -e "s/scrape_timeout: 10s/scrape_timeout: 1s/" \
  -e "s|  - alerts.yml|  - $PWD/docs/monitoring/alerts.yml|" docs/monitoring/prometheus.yml >"$dir/prometheus.yml"
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address="$web" --log.level=warn >/dev/null 2>&1 &
pids+=($!)
sleep 60
for _ in 1 2; do
  kill -STOP "$(cat "$dir/db/mariadbd.pid")"; sleep 3; kill -CONT "$(cat "$dir/db/mariadbd.pid")"
  sleep 50
done
q='histogram_quantile(0.99, sum by (le, phase) (rate(handshake_probe_phase_duration_seconds_bucket{phase!="dns"}[10s])))'
enc=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1]))" "$q")
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
  --virtual-time-budget=15000 --screenshot="$PWD/$out" \
  "http://$web/graph?g0.expr=$enc&g0.tab=0&g0.range_input=3m&g0.stacked=0&g0.show_exemplars=0" 2>/dev/null
echo "wrote $out"
