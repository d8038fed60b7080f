#!/usr/bin/env bash
# Capture decoding speed and memory, side by side in one run:
#   1. records a large capture of real handshakes (HSP_HANDSHAKES, default
#      100000) from a private MariaDB, made by handshake-probe itself,
#      with tcpdump on loopback (not committed; under a temporary directory);
#   2. reads it with handshake-probe decode (connection records, jsonl),
#      with tshark -Y mysql -T fields (Wireshark's dissector), and with
#      tcpdump -r -w /dev/null (the libpcap read floor): medians of
#      HSP_REPEAT (7) interleaved runs (tshark: HSP_TSHARK_REPEAT, 3),
#      packets per second and ratios;
#   3. builds a ~1 GB capture (time-shifted copies, mergecap) and prints
#      handshake-probe's peak RSS decoding it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
N=${HSP_HANDSHAKES:-100000}
REPEAT=${HSP_REPEAT:-7}
hp=target/release/handshake-probe
bench_start bench-decode --max-connections=1000 --thread-cache-size=64
tcpdump -i lo -B 262144 -s 0 -U -w "$dir/big.pcap" "tcp port $port" 2>"$dir/tcpdump.log" &
tp=$!
sleep 1
$hp -n "$N" -c 8 -u hsp_native --password=native-secret --ssl-mode DISABLED --no-server-status -q \
  --format json "127.0.0.1:$port" > "$dir/probe.json"
sleep 1
kill -INT "$tp"; wait "$tp" 2>/dev/null || true
dropped=$(grep -o '[0-9]* packets dropped by kernel' "$dir/tcpdump.log" || echo "? packets dropped by kernel")
records=$(tcpdump -r "$dir/big.pcap" 2>/dev/null | wc -l)
size=$(du -m "$dir/big.pcap" | cut -f1)
echo "# capture: $N handshakes, $records packets, ${size} MB ($dropped)"

timed() { # prints wall seconds of "$@" with output discarded
  local t0 t1
  t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N)
  python3 -c "print(f'{$t1-$t0:.3f}')"
}
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

# Interleaved, so both see the same moments of a shared machine.
hp_runs=(); floor_runs=()
for _ in $(seq "$REPEAT"); do
  hp_runs+=("$(timed $hp decode --format jsonl --port "$port" "$dir/big.pcap")")
  floor_runs+=("$(timed tcpdump -r "$dir/big.pcap" -w /dev/null)")
done
# tshark takes ~15 s a run: HSP_TSHARK_REPEAT (3) runs, each followed by
# one more handshake-probe run, so its median also sees those moments.
ts_runs=()
for _ in $(seq "${HSP_TSHARK_REPEAT:-3}"); do
  ts_runs+=("$(timed tshark -r "$dir/big.pcap" -d "tcp.port==$port,mysql" -Y mysql -T fields -e frame.number -e _ws.col.Info)")
  hp_runs+=("$(timed $hp decode --format jsonl --port "$port" "$dir/big.pcap")")
done
t_hp=$(median "${hp_runs[@]}")
t_floor=$(median "${floor_runs[@]}")
t_tshark=$(median "${ts_runs[@]}")
echo "# runs (s): handshake-probe ${hp_runs[*]}; tcpdump ${floor_runs[*]}; tshark ${ts_runs[*]}"
conns=$($hp decode --format jsonl --port "$port" "$dir/big.pcap" | tail -1 | python3 -c "import json,sys; s=json.load(sys.stdin); print(s['connections'], s['verdicts'])")
python3 - "$records" "$t_hp" "$t_tshark" "$t_floor" <<'PY'
import sys
n, hp, ts, fl = int(sys.argv[1]), *map(float, sys.argv[2:])
print("| reader | seconds | packets/s | handshake-probe is |")
print("| --- | --- | --- | --- |")
for name, t in [("handshake-probe decode (records + verdicts)", hp), ("tshark -Y mysql -T fields", ts), ("tcpdump -r -w /dev/null (libpcap floor)", fl)]:
    rel = "" if t == hp else f"{t / hp:.1f}x faster" if t > hp else f"{hp / t:.2f}x slower ({t / hp:.2f}x its speed)"
    print(f"| {name} | {t:.2f} | {n / t:,.0f} | {rel} |")
PY
echo "connections decoded: $conns"

# ~1 GB: time-shifted copies of the capture, appended.
copies=$(( (1024 + size - 1) / size ))
parts=()
for i in $(seq 0 $((copies - 1))); do
  editcap -t $((i * 600)) "$dir/big.pcap" "$dir/part$i.pcap"
  parts+=("$dir/part$i.pcap")
done
mergecap -a -F pcap -w "$dir/1g.pcap" "${parts[@]}"
rm -f "${parts[@]}"
gsize=$(du -m "$dir/1g.pcap" | cut -f1)
/usr/bin/time -f "%e %M" -o "$dir/rss" $hp decode -q --port "$port" "$dir/1g.pcap" >/dev/null || true
read -r wall kb <"$dir/rss"
echo "| capture | wall | peak RSS |"
echo "| --- | --- | --- |"
echo "| ${gsize} MB ($copies copies) | ${wall} s | $((kb / 1024)) MiB |"
