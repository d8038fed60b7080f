#!/usr/bin/env bash
# Two-vantage merging (decode --vantage), speed and memory, side by side in
# one run:
#   1. records HSP_HANDSHAKES (default 20000) probe handshakes through a
#      router namespace with tcpdump at both ends (scripts/lib/netns.sh;
#      not committed, under a temporary directory);
#   2. times decode of each capture alone (the two single-vantage reads the
#      merge replaces), decode --vantage of the pair, and mergecap + tshark
#      (what Wireshark users do today: one interleaved file, which
#      double-counts every packet): medians of HSP_REPEAT (5) interleaved
#      runs, and each one's peak RSS.
# Root (network namespaces). Only what is started here is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -q
N=${HSP_HANDSHAKES:-20000}
REPEAT=${HSP_REPEAT:-5}
hp=$PWD/target/release/handshake-probe
dir=$(mktemp -d /tmp/hsp-bench-vantage-XXXXXX)
. scripts/lib/netns.sh
cleanup() { netns_down; rm -rf "$dir"; }
trap cleanup EXIT
netns_up hspv 10.83
netns_mariadbd "$dir/ns" --max-connections=200 --thread-cache-size=16
netns_native_user "$dir/ns"
ip netns exec "$NS_CL" tcpdump -i "$NS_IFACE_CL" -B 131072 -U -s 0 -w "$dir/client.pcap" tcp port 3306 2>"$dir/t1.log" &
t1=$!
ip netns exec "$NS_SV" tcpdump -i "$NS_IFACE_SV" -B 131072 -U -s 0 -w "$dir/server.pcap" tcp port 3306 2>"$dir/t2.log" &
t2=$!
sleep 1
ip netns exec "$NS_CL" "$hp" -n "$N" -c 4 -u hsp_native --password=native-secret --ssl-mode DISABLED \
  --no-server-status -q --format json "$SERVER_IP:3306" > "$dir/probe.json" || true
sleep 1
kill -INT "$t1" "$t2"; wait "$t1" "$t2" 2>/dev/null || true
echo "# pair: $N handshakes; client $(du -m "$dir/client.pcap" | cut -f1) MB, server $(du -m "$dir/server.pcap" | cut -f1) MB"
grep -ho '[0-9]* packets dropped by kernel' "$dir/t1.log" "$dir/t2.log" | sed 's/^/# /'

run() { # COMMAND...: wall seconds and peak RSS (KiB) of one run
  /usr/bin/time -o "$dir/time" -f '%e %M' "$@" >/dev/null 2>&1 || true
  tail -1 "$dir/time"
}
declare -A wall rss
names=(alone-client alone-server vantage mergecap+tshark)
for _ in $(seq "$REPEAT"); do
  for n in "${names[@]}"; do
    case $n in
      alone-client) r=$(run "$hp" decode --format jsonl "$dir/client.pcap") ;;
      alone-server) r=$(run "$hp" decode --format jsonl "$dir/server.pcap") ;;
      vantage) r=$(run "$hp" decode --format jsonl --vantage "client=$dir/client.pcap" --vantage "server=$dir/server.pcap") ;;
      mergecap+tshark) r=$(run bash -c "mergecap -w - '$dir/client.pcap' '$dir/server.pcap' | tshark -r - -Y mysql -T fields -e frame.number") ;;
    esac
    wall[$n]+="${r% *} "; rss[$n]+="${r#* } "
  done
done
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
alone=$(python3 -c "print($(median ${wall[alone-client]}) + $(median ${wall[alone-server]}))")
printf '%-18s %10s %12s\n' "" "median s" "peak RSS MiB"
for n in "${names[@]}"; do
  printf '%-18s %10.3f %12.1f\n' "$n" "$(median ${wall[$n]})" "$(python3 -c "print($(median ${rss[$n]})/1024)")"
done
printf 'vantage / (alone-client + alone-server): %.2fx; mergecap+tshark / vantage: %.1fx\n' \
  "$(python3 -c "print($(median ${wall[vantage]})/$alone)")" \
  "$(python3 -c "print($(median ${wall[mergecap+tshark]})/$(median ${wall[vantage]}))")"
"$hp" decode --format json --vantage "client=$dir/client.pcap" --vantage "server=$dir/server.pcap" \
  | python3 -c "import json,sys; v=json.load(sys.stdin)['vantage']; print('# matched', v['matched'], 'client only', v['client_only'], 'server only', v['server_only'], 'offset', v.get('offset_us'), '±', v.get('offset_uncertainty_us'), 'us; warnings', v['warnings'])"
