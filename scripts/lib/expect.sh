# Sourced, not run. Expected verdicts for fixtures/expected-verdicts.tsv,
# one line per connection or capture, appended to $EXPECTED:
#   capture  key  verdict  connect_timeout_s  wait_timeout_s
# key: all (every connection of the capture), stream=N, client=IP:PORT, or
# rest (every connection no other line names).
#
# expect NAME KEY VERDICT CT WT
# expect_from_probe NAME CT WT JSONL   the probe's own records (the client's
#                                      view) give each of its connections'

expect() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$EXPECTED"; }

expect_from_probe() {
  python3 - "$@" >> "$EXPECTED" <<'PY'
import json, sys
name, ct, wt, path = sys.argv[1:5]
for line in open(path):
    r = json.loads(line)
    if r["type"] == "connection" and r.get("client"):
        print(f"{name}\tclient={r['client']}\t{r['verdict']}\t{ct}\t{wt}")
PY
}
