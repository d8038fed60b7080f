#!/usr/bin/env bash
# Compares our packet decoding with tshark's on every capture under DIR.
# Usage: scripts/conformance.sh DIR [DIR...]
# Prints "conformance: A/B packets agree" per DIR and every disagreement;
# exits 1 if any disagreement is not in scripts/conformance-reviewed.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -ge 1 ] || { echo "usage: scripts/conformance.sh DIR [DIR...]" >&2; exit 2; }
cargo build --quiet --release -p handshake-probe
rc=0
for d in "$@"; do
  python3 scripts/conformance.py target/release/handshake-probe "$d" || rc=1
done
exit $rc
