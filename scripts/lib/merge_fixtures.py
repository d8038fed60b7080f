"""Merges freshly recorded captures into a fixtures directory: the lines
these captures own in expected-verdicts.tsv, ports.tsv and the README's
table are replaced by the new ones in TMP (expected.tsv, ports.tsv,
table.md); every other line is kept.

Usage: python3 scripts/lib/merge_fixtures.py OUT TMP NAME...
"""
import os
import sys

out, tmp, names = sys.argv[1], sys.argv[2], set(sys.argv[3:])


def merge(path, new_path, key):
    old = open(path).read().splitlines() if os.path.exists(path) else []
    kept = [l for l in old if key(l) not in names]
    new = open(new_path).read().splitlines()
    open(path, "w").write("\n".join(kept + new) + "\n")


merge(f"{out}/expected-verdicts.tsv", f"{tmp}/expected.tsv", lambda l: l.split("\t")[0])
merge(f"{out}/ports.tsv", f"{tmp}/ports.tsv", lambda l: l.split("\t")[0])
readme = f"{out}/README.md"
lines = open(readme).read().splitlines() if os.path.exists(readme) else []
row = lambda l: l.startswith("| ") and l.split(" ")[1].removesuffix(".pcap") in names
kept = [l for l in lines if not row(l)]
new = open(f"{tmp}/table.md").read().splitlines()
open(readme, "w").write("\n".join(kept + new) + "\n")
