#!/usr/bin/env bash
# --report at scale: a private MariaDB, N handshakes (default 1M) with the
# report on, then the report's size and how long headless Chromium takes to
# open it and draw it (a screenshot, Chromium's start included), median
# of 3, beside the same for a blank page.
#   HSP_N=1000000 scripts/bench-report.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
n=${HSP_N:-1000000}
bench_start bench-report --max-connections=500
/usr/bin/time -f "%e s, peak RSS %M KiB" -o "$dir/time" target/release/handshake-probe -n "$n" -c 8 \
  --ssl-mode DISABLED --format json -q --report "$dir/report.html" "127.0.0.1:$port" >"$dir/summary.json" || true
echo "probe: $n handshakes, $(cat "$dir/time") (with --report)"
echo '<!DOCTYPE html><html><body></body></html>' >"$dir/blank.html"
shot() {
  local t0 t1
  t0=$(date +%s.%N)
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1400 \
    --screenshot="$dir/shot.png" "file://$1" 2>/dev/null
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
median() { sort -n | sed -n 2p; }
report=$(for _ in 1 2 3; do shot "$dir/report.html"; done | median)
blank=$(for _ in 1 2 3; do shot "$dir/blank.html"; done | median)
size=$(stat -c %s "$dir/report.html")
echo "| connections | report size | Chromium opens and draws it | a blank page |"
echo "| --- | --- | --- | --- |"
echo "| $n | $(python3 -c "print(f'{$size / 1048576:.2f} MiB')") | $report s | $blank s |"
