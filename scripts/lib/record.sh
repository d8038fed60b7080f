# Sourced by the scripts that record captures into a fixture directory
# (record-hardcases.sh, record-nat.sh, record-partial.sh): the one preamble
# and the one merge they share, so they cannot drift apart.
#   record_start TAG [DIR]
# runs setup.sh and a release build of the probe ($hp), makes the output
# directory ($out: DIR, else fixtures) and a temporary one ($tmp), and
# opens the lists the merge reads: $names (the captures recorded),
# $tmp/ports.tsv, $tmp/table.md and $EXPECTED (through expect.sh's
# `expect` and `expect_from_probe`). On exit it ends the processes listed
# in $pids (by PID), runs the steps given to `at_exit` (a namespace's
# teardown, a server's stop), and removes $tmp.
#   record_merge SCRIPT
# replaces the lines these captures own in $out's expected-verdicts.tsv,
# ports.tsv and README table, and runs the conformance check over $out.
pids=()
exit_steps=()

at_exit() { exit_steps+=("$*"); }

record_cleanup() {
  local p s
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for s in "${exit_steps[@]}"; do eval "$s" || true; done
  [ -n "${tmp:-}" ] && rm -rf "$tmp"
}

record_start() {
  bash scripts/setup.sh
  out=${2:-fixtures}
  mkdir -p "$out"
  tmp=$(mktemp -d "/tmp/hsp-$1-XXXXXX")
  trap record_cleanup EXIT
  cargo build --quiet --release -p handshake-probe
  hp=$PWD/target/release/handshake-probe
  names=()
  : > "$tmp/expected.tsv"; : > "$tmp/ports.tsv"; : > "$tmp/table.md"
  EXPECTED=$tmp/expected.tsv
  . scripts/lib/expect.sh
}

record_merge() {
  python3 scripts/lib/merge_fixtures.py "$out" "$tmp" "${names[@]}"
  local n
  for n in "${names[@]}"; do rm -f "$out/$n.pcap.tshark.txt"; done
  python3 scripts/conformance.py "$hp" "$out" || true
  echo "$1: recorded ${#names[@]} captures into $out/"
}
