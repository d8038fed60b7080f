#!/usr/bin/env bash
# The test command (README; .ci/run calls it): installs what it needs, then
# format, lints, every test (they start their own private mariadbd), the
# probe against a blackholed login between network namespaces, and the
# tshark conformance check on the public corpus and on fixtures/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
bash scripts/test-netns.sh
shared=${HSP_SHARED:-../shared}
if [ ! -d "$shared/captures/public" ]; then
  echo "test.sh: $shared/captures/public not found: the public capture corpus must sit beside the checkout (or set HSP_SHARED)" >&2
  exit 1
fi
bash scripts/conformance.sh "$shared/captures/public" fixtures
echo "test.sh: all checks passed"
