#!/usr/bin/env bash
# Records the NAT pair of issue 12 into fixtures/ (or DIR), replacing the
# lines these captures own in expected-verdicts.tsv, ports.tsv and the
# README: net-nat-client.pcap and net-nat-server.pcap, the same probe
# handshakes captured at both ends of a router that rewrites the client's
# address and port (iptables MASQUERADE to ports 41000-41999, as a NAT
# gateway or a load balancer's SNAT does) and drops every other login's
# first copy. The server's capture sees 10.81.2.1:41xxx where the client's
# sees 10.81.1.2:ephemeral: `decode --vantage` must still match every
# connection (by initial sequence numbers, which NAT leaves alone) and
# prove each lost login between the taps.
#
# Usage: scripts/record-nat.sh [DIR]   (root: network namespaces)
# Only what is started here is stopped, by PID; the namespaces are deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/record.sh
. scripts/lib/netns.sh
record_start nat "${1:-}"
at_exit netns_down

netns_up hspn 10.81
netns_mariadbd "$tmp/ns" --connect-timeout=2 --wait-timeout=3 --log-warnings=4
pids+=("$NS_MARIADBD_PID")
netns_native_user "$tmp/ns"
fw() { ip netns exec "$NS_RT" iptables "$@"; }
# The client's address and port rewritten on the way to the server.
fw -t nat -A POSTROUTING -o hspnrs -p tcp -j MASQUERADE --to-ports 41000-41999
# Every other login packet dropped (the MySQL header's sequence id 1, a
# login's size), before the NAT rewrites it: each login's first copy, its
# retransmission let through.
HDR='0>>22&0x3C@12>>26&0x3C@0'
fw -A FORWARD -p tcp --dport 3306 -m u32 --u32 "$HDR&0xFF=0x1" -m length --length 80:65535 \
  -m statistic --mode nth --every 2 --packet 0 -j DROP

name=net-nat
ip netns exec "$NS_CL" tcpdump -i "$NS_IFACE_CL" -U -s 0 -w "$out/$name-client.pcap" tcp port 3306 2>/dev/null &
t1=$!
ip netns exec "$NS_SV" tcpdump -i "$NS_IFACE_SV" -U -s 0 -w "$out/$name-server.pcap" tcp port 3306 2>/dev/null &
t2=$!
pids+=("$t1" "$t2")
sleep 1
ip netns exec "$NS_CL" "$hp" -n 4 -c 1 --interval 300ms -u hsp_native --password=native-secret \
  --ssl-mode DISABLED --no-server-status --connect-timeout 2s --format jsonl "$SERVER_IP:3306" \
  > "$tmp/nat.jsonl" || true
sleep 1
kill "$t1" "$t2"; wait "$t1" "$t2" 2>/dev/null || true
desc="4 probe handshakes one at a time through a router that rewrites the client's address and port (MASQUERADE to ports 41000-41999) and drops every login's first copy (every other login packet: each retransmission gets through)"
for side in client server; do
  cp "$tmp/ns/error.log" "$out/$name-$side.error.log"
  names+=("$name-$side")
  printf '| %s-%s.pcap | %s; captured at the %s |\n' "$name" "$side" "$desc" "$side" >> "$tmp/table.md"
  printf '%s-%s\t3306\n' "$name" "$side" >> "$tmp/ports.tsv"
done
expect_from_probe net-nat-client 2 3 "$tmp/nat.jsonl"
# The server receives each login once, late by one RTO at most: ok.
expect net-nat-server all ok 2 3

record_merge record-nat
