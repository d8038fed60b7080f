# Sourced, not run. A client, a router and a server network namespace
# joined by two veth pairs, and a private mariadbd in the server namespace:
#
#   $NS_CL (A.1.2) --veth-- $NS_RT (router: A.1.1, A.2.1) --veth-- $NS_SV (A.2.2)
#
# netns_up TAG NET      creates them: TAG (at most 5 characters) names the
#                       namespaces and veths, NET is the first two octets
#                       (10.77); sets NS_CL NS_RT NS_SV, CLIENT_IP SERVER_IP
# netns_mariadbd DIR [mariadbd options...]
#                       bootstraps DIR/data and starts mariadbd on
#                       SERVER_IP:3306 in $NS_SV (its own tmpdir, socket
#                       DIR/sock, error log DIR/error.log); waits until it
#                       answers; sets NS_MARIADBD_PID
# netns_native_user DIR creates hsp_native@'%' (mysql_native_password,
#                       password native-secret, all privileges) on the
#                       server netns_mariadbd started in DIR
# netns_down            stops what netns_mariadbd started (by PID) and
#                       deletes the namespaces (their veths go with them)
#
# Faults are the caller's: iptables rules in $NS_RT's FORWARD chain.

netns_up() {
  local tag=$1 net=$2
  NS_CL=$tag-cl NS_RT=$tag-rt NS_SV=$tag-sv
  CLIENT_IP=$net.1.2 SERVER_IP=$net.2.2
  local n
  for n in "$NS_CL" "$NS_RT" "$NS_SV"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; done
  ip link add "${tag}c" type veth peer name "${tag}rc"
  ip link add "${tag}s" type veth peer name "${tag}rs"
  ip link set "${tag}c" netns "$NS_CL"; ip link set "${tag}rc" netns "$NS_RT"
  ip link set "${tag}s" netns "$NS_SV"; ip link set "${tag}rs" netns "$NS_RT"
  ip -n "$NS_CL" addr add "$CLIENT_IP/24" dev "${tag}c"; ip -n "$NS_RT" addr add "$net.1.1/24" dev "${tag}rc"
  ip -n "$NS_SV" addr add "$SERVER_IP/24" dev "${tag}s"; ip -n "$NS_RT" addr add "$net.2.1/24" dev "${tag}rs"
  for n in "$NS_CL" "$NS_RT" "$NS_SV"; do ip -n "$n" link set lo up; done
  ip -n "$NS_CL" link set "${tag}c" up; ip -n "$NS_SV" link set "${tag}s" up
  ip -n "$NS_RT" link set "${tag}rc" up; ip -n "$NS_RT" link set "${tag}rs" up
  ip -n "$NS_CL" route add default via "$net.1.1"
  ip -n "$NS_SV" route add default via "$net.2.1"
  ip netns exec "$NS_RT" sysctl -qw net.ipv4.ip_forward=1
  NS_IFACE_CL=${tag}c NS_IFACE_SV=${tag}s
}

netns_mariadbd() {
  local dir=$1; shift
  mkdir -p "$dir/tmp"
  TMPDIR="$dir/tmp" mariadb-install-db --no-defaults --datadir="$dir/data" \
    --auth-root-authentication-method=normal --skip-test-db --user=root >"$dir/install.log" 2>&1 \
    || { cat "$dir/install.log" >&2; return 1; }
  ip netns exec "$NS_SV" /usr/sbin/mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/sock" \
    --tmpdir="$dir/tmp" --port=3306 --bind-address="$SERVER_IP" --user=root --skip-name-resolve \
    --skip-log-bin --innodb-buffer-pool-size=16M --log-error="$dir/error.log" --pid-file="$dir/pid" \
    "$@" </dev/null >/dev/null 2>&1 &
  NS_MARIADBD_PID=$!
  local _
  for _ in $(seq 150); do
    mariadb --no-defaults --socket="$dir/sock" -uroot -e 'select 1' >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "netns: mariadbd did not start; $dir/error.log:" >&2
  cat "$dir/error.log" >&2
  return 1
}

netns_native_user() {
  mariadb --no-defaults --socket="$1/sock" -uroot -e \
    "CREATE USER hsp_native@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('native-secret'); GRANT ALL ON *.* TO hsp_native@'%';"
}

netns_down() {
  if [ -n "${NS_MARIADBD_PID:-}" ]; then
    kill "$NS_MARIADBD_PID" 2>/dev/null || true
    local _
    for _ in $(seq 50); do kill -0 "$NS_MARIADBD_PID" 2>/dev/null || break; sleep 0.1; done
    NS_MARIADBD_PID=
  fi
  local n
  for n in "${NS_CL:-}" "${NS_RT:-}" "${NS_SV:-}"; do
    [ -n "$n" ] && ip netns del "$n" 2>/dev/null || true
  done
}
