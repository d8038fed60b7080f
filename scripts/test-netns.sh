#!/usr/bin/env bash
# The probe against real packet loss (run by test.sh): a client, a router and
# a server network namespace joined by veth pairs, a private mariadbd with
# connect_timeout=2 in the server namespace, and iptables in the router
# dropping the client's data packets (its login) for 3 s. The probe, in the
# client namespace, must call every handshake a network_stall: its login
# was retransmitted (TCP_INFO total_retrans > 0) and never acknowledged
# until the server gave up; the application would have logged 2013. A
# client that merely came late would be server_timeout; one without the
# retransmission evidence would be misjudged. Everything created here
# (namespaces, veths, processes, files) is removed here, by name and PID.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in ip iptables mariadbd mariadb-install-db; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
    echo "test-netns: $tool not found; run scripts/setup.sh" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "test-netns: network namespaces need root" >&2; exit 1; }
hp=$PWD/target/debug/handshake-probe
[ -x "$hp" ] || cargo build -q -p handshake-probe
. scripts/lib/netns.sh
tmp=$(mktemp -d /tmp/hsp-netns-XXXXXX)
cleanup() {
  netns_down
  rm -rf "$tmp"
}
trap cleanup EXIT
# Names of their own (a PID suffix), so that a concurrent run does not meet them.
netns_up "ht$(($$ % 1000))" 10.78
netns_mariadbd "$tmp" --connect-timeout=2
cl=$NS_CL rt=$NS_RT
mariadb --no-defaults --socket="$tmp/sock" -uroot -e \
  "CREATE USER hsp_native@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('native-secret');" \
  || { cat "$tmp/error.log" >&2; exit 1; }

probe() {
  ip netns exec "$cl" "$hp" -u hsp_native --password=native-secret --ssl-mode DISABLED \
    --no-server-status --connect-timeout 2s --timeout 15s --format jsonl "$@" 10.78.2.2:3306
}

# Through the router, undisturbed: every handshake is ok.
probe -n 4 > "$tmp/clean.jsonl" || { echo "test-netns: clean run failed" >&2; cat "$tmp/clean.jsonl" >&2; exit 1; }

# The login blackholed for 3 s (data-carrying packets only: SYNs, ACKs and
# RSTs are under 100 bytes and pass).
rule=(FORWARD -p tcp -s 10.78.1.2 --dport 3306 -m length --length 100:65535 -j DROP)
ip netns exec "$rt" iptables -A "${rule[@]}"
probe -n 2 -c 2 > "$tmp/stall.jsonl" &
p=$!
sleep 3
ip netns exec "$rt" iptables -D "${rule[@]}"
wait "$p" || true

python3 - "$tmp/clean.jsonl" "$tmp/stall.jsonl" <<'PY'
import json, sys
def conns(path):
    return [r for r in map(json.loads, open(path)) if r["type"] == "connection"]
clean, stall = conns(sys.argv[1]), conns(sys.argv[2])
bad = []
if len(clean) != 4 or any(r["verdict"] != "ok" for r in clean):
    bad.append(f"clean run: {[r['verdict'] for r in clean]}")
if len(stall) != 2:
    bad.append(f"blackholed run: {len(stall)} connections, expected 2")
for r in stall:
    ti = r.get("tcp_info") or {}
    app = r.get("app_error") or {}
    if r["verdict"] != "network_stall":
        bad.append(f"verdict {r['verdict']} ({r['outcome']}), expected network_stall: {r['evidence']}")
    if ti.get("total_retrans", 0) < 1:
        bad.append(f"no retransmissions in TCP_INFO: {ti}")
    if app.get("code") != 2013:
        bad.append(f"application error {app}, expected 2013")
if bad:
    print("test-netns: FAILED\n  " + "\n  ".join(bad), file=sys.stderr)
    sys.exit(1)
r = stall[0]
print(f"test-netns: 4 clean handshakes ok; 2 with the login blackholed 3 s -> network_stall "
      f"({r['outcome']} after {r['phases_us'].get('total', 0) / 1e6:.2f} s, "
      f"{r['tcp_info']['total_retrans']} retransmissions, {r['app_error']['code']})")
PY
