#!/usr/bin/env bash
# Handshake benchmark: handshake-probe against a raw-socket C loop (the
# same work and nothing else, benches/baseline/raw_loop.c: the physical
# floor), MariaDB Connector/C (a minimal C connect/close loop,
# benches/baseline/connect_loop.c) and a PyMySQL loop, same private
# MariaDB, same run (scripts/bench_probe.py prints the table). Then the
# probe's phase timings against the wire's, the same connections captured
# by tcpdump and decoded (scripts/bench_accuracy.py; --accuracy runs only
# that). Then, with --rss, the probe's peak memory for 10k and 1m
# handshakes (records are streamed, so it must not grow with N).
#   HSP_N=5000 HSP_REPEAT=3 scripts/bench-probe.sh [--rss | --accuracy]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
bench_start bench-probe --max-connections=1000 --thread-cache-size=64
# The baseline links the official client library (libmariadb-dev).
dpkg-query -W -f='${Status}' libmariadb-dev 2>/dev/null | grep -q 'install ok installed' \
  || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmariadb-dev >/dev/null
gcc -O2 -o target/connect_loop benches/baseline/connect_loop.c $(mariadb_config --cflags --libs)
# The raw loop's SHA1 is libcrypto's (libssl-dev).
dpkg-query -W -f='${Status}' libssl-dev 2>/dev/null | grep -q 'install ok installed' \
  || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev >/dev/null
gcc -O2 -Wno-deprecated-declarations -o target/raw_loop benches/baseline/raw_loop.c -lcrypto
if [ "${1:-}" = "--accuracy" ]; then
  # The probe's phases against the same connections on the wire.
  HSP_PORT=$port python3 scripts/bench_accuracy.py
  exit 0
fi
HSP_PORT=$port HSP_SERVER_PID=$(cat "$dir/db/mariadbd.pid") python3 scripts/bench_probe.py
echo
# The probe's phases against the same connections on the wire, same run.
HSP_PORT=$port python3 scripts/bench_accuracy.py
if [ "${1:-}" = "--rss" ]; then
  echo
  echo "| handshakes | concurrency | wall | handshakes/s | peak RSS |"
  echo "| --- | --- | --- | --- | --- |"
  for n in 10000 1000000; do
    /usr/bin/time -f "%e %M" -o "$dir/time" target/release/handshake-probe -n "$n" -c 8 \
      -u hsp_native --password=native-secret --ssl-mode DISABLED --no-server-status \
      --format json -q "127.0.0.1:$port" >"$dir/out.json"
    read -r wall kb <"$dir/time"
    rate=$(python3 -c "import json;print(round(json.load(open('$dir/out.json'))['handshakes_per_s']))")
    echo "| $n | 8 | ${wall} s | $rate | $((kb / 1024)) MiB |"
  done
fi
