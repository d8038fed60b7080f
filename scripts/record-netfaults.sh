#!/usr/bin/env bash
# Network faults between namespaces, recorded at both ends of the same runs.
# Called by record-fixtures.sh: record-netfaults.sh OUT EXPECTED PORTS TABLE
#
#   hsp-cl (10.77.1.2) --veth-- hsp-rt (router) --veth-- hsp-sv (10.77.2.2, mariadbd)
#   (scripts/lib/netns.sh)
#
# The kernel here has no sch_netem, so faults are iptables rules in the
# router's FORWARD chain: random loss (-m statistic), and blackholes (DROP
# rules on packets that carry data, added and removed on a timer). tcpdump
# runs in hsp-cl and hsp-sv at once: NAME-client.pcap and NAME-server.pcap
# hold the same connections seen from each end. handshake-probe drives the
# client; its own records are the expected verdicts of the client-side
# captures. Everything created here (namespaces, processes) is removed here.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 expected=$2 ports=$3 table=$4
command -v iptables >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
hp=$PWD/target/release/handshake-probe
tmp=$(mktemp -d /tmp/hsp-netfaults-XXXXXX)
. scripts/lib/netns.sh
cleanup() {
  netns_down
  rm -rf "$tmp"
}
trap cleanup EXIT
netns_up hsp 10.77
netns_mariadbd "$tmp" --connect-timeout=2 --log-warnings=4
netns_native_user "$tmp"
ip netns exec hsp-cl python3 -c "import socket; socket.create_connection(('10.77.2.2', 3306), 3).close()"

fw() { ip netns exec hsp-rt iptables "$@"; }
# Data-carrying packets only (pure ACKs, SYNs and RSTs are under 100 bytes).
LOGIN_RULE=(FORWARD -p tcp -s 10.77.1.2 --dport 3306 -m length --length 100:65535 -j DROP)
GREETING_RULE=(FORWARD -p tcp -d 10.77.1.2 --sport 3306 -m length --length 100:65535 -j DROP)

# NAME DESCRIPTION SERVER_SIDE_EXPECTATION CLIENT_EXTRA PROBE_ARGS...
# Faults are set up by $setup, $during and $teardown. The client-side
# capture must get the probe's own verdict, or CLIENT_EXTRA: a capture sees
# more than TCP_INFO (a retransmitted SYN-ACK, the peer's lost segments), so
# where loss is random it may rightly find network_stall where the probe,
# from the client's kernel alone, found the server slow. CLIENT_EXTRA
# `=VERDICT` is the client capture's verdict whatever the probe found, where
# the capture proves more than the socket can (a RST whose sequence number
# counts a greeting that never arrived).
netrun() {
  local name=$1 desc=$2 server_expect=$3 client_extra=$4; shift 4
  ip netns exec hsp-cl tcpdump -i "$NS_IFACE_CL" -U -s 0 -w "$out/$name-client.pcap" tcp port 3306 2>/dev/null &
  local t1=$!
  ip netns exec hsp-sv tcpdump -i "$NS_IFACE_SV" -U -s 0 -w "$out/$name-server.pcap" tcp port 3306 2>/dev/null &
  local t2=$!
  sleep 1
  eval "$setup"
  ip netns exec hsp-cl "$hp" "$@" -u hsp_native --password=native-secret --ssl-mode DISABLED \
    --no-server-status --connect-timeout 2s --timeout 15s --format jsonl 10.77.2.2:3306 > "$tmp/$name.jsonl" &
  local p=$!
  eval "$during"
  wait "$p" || true
  eval "$teardown"
  sleep 1
  kill "$t1" "$t2"; wait "$t1" "$t2" 2>/dev/null || true
  for side in client server; do
    # The server's error log (log_warnings=4) as it stood at the end.
    cp "$tmp/error.log" "$out/$name-$side.error.log"
    printf '| %s-%s.pcap | %s; captured at the %s |\n' "$name" "$side" "$desc" "$side" >> "$table"
    printf '%s-%s\t3306\n' "$name" "$side" >> "$ports"
  done
  python3 - "$name-client" "$tmp/$name.jsonl" "$client_extra" >> "$expected" <<'PY'
import json, sys
name, path, extra = sys.argv[1:4]
for line in open(path):
    r = json.loads(line)
    if r["type"] == "connection" and r.get("client"):
        if extra.startswith("="):
            alts = [extra[1:]]
        else:
            alts = [r["verdict"]] + [x for x in extra.split("|") if x and x != r["verdict"]]
        print(f"{name}\tclient={r['client']}\t{'|'.join(alts)}\t2\t0")
PY
  printf '%s-server\tall\t%s\t2\t0\n' "$name" "$server_expect" >> "$expected"
}

# Random loss both ways: some handshakes survive with retransmissions, some
# reach the server's connect_timeout. From the server's side, loss must
# never be blamed on the server.
setup='fw -A FORWARD -m statistic --mode random --probability 0.25 -j DROP'
during=':'
teardown='fw -F FORWARD'
netrun net-loss "25% random loss both ways in the router, 40 probe handshakes 4 at a time" \
  'ok|network_stall|server_timeout|client_slow' network_stall -n 40 -c 4

# The client's login blackholed for 3 s: retransmitted, never acknowledged,
# and the server resets at connect_timeout=2. Near the client that is a
# network stall; near the server, a login that never came.
setup='fw -A "${LOGIN_RULE[@]}"'
during='sleep 3; fw -D "${LOGIN_RULE[@]}"'
teardown=':'
netrun net-login-blackhole "client-to-server data dropped for 3 s (the login), connect_timeout=2" \
  'server_timeout' '' -n 2 -c 2

# The greeting blackholed for 1.5 s (less than connect_timeout): it arrives
# late, by retransmission, and the login still makes it in time.
setup='fw -A "${GREETING_RULE[@]}"'
during='sleep 1.5; fw -D "${GREETING_RULE[@]}"'
netrun net-greeting-blackhole-short "server-to-client data dropped for 1.5 s (the greeting), connect_timeout=2" \
  'network_stall' '=network_stall' -n 2 -c 2

# The greeting blackholed for 3 s (more than connect_timeout): the server
# gives up before the client ever sees it. The client sees only a reset;
# the server's capture shows its greeting retransmitted, never acknowledged.
setup='fw -A "${GREETING_RULE[@]}"'
during='sleep 3; fw -D "${GREETING_RULE[@]}"'
netrun net-greeting-blackhole-long "server-to-client data dropped for 3 s (the greeting), connect_timeout=2" \
  'network_stall' '=network_stall' -n 2 -c 2
echo "record-netfaults: recorded 4 runs at both ends"
