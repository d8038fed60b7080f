#!/usr/bin/env bash
# The README's report screenshots, made as a user would make them:
#  - decode --report of a network-fault fixture (fixtures/net-loss-client.pcap);
#  - a probe run with the MySQL bug #28359 pattern: a private MariaDB with
#    connect_timeout=2 and logins held back 2.5 s (--login-delay).
# Both photographed by headless Chromium into docs/report/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
bench_start shots --connect-timeout=2
shot() {
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1060,1900 \
    --screenshot="$PWD/$2" "file://$1" 2>/dev/null
  echo "wrote $2"
}
target/release/handshake-probe decode -q --report "$dir/net-loss.html" fixtures/net-loss-client.pcap >/dev/null || true
shot "$dir/net-loss.html" docs/report/net-loss-client.png
target/release/handshake-probe -n 16 -c 4 --login-delay 2.5s -u hsp_native --password=native-secret \
  --ssl-mode DISABLED -q --format json --report "$dir/late.html" "127.0.0.1:$port" >/dev/null || true
shot "$dir/late.html" docs/report/late-login-probe.png
