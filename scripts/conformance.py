#!/usr/bin/env python3
"""Compare `handshake-probe decode --packets --format jsonl` with tshark.

For every capture under DIR, each frame tshark lists is compared with the
packets we attribute to the same frame: the list of (length, sequence id)
pairs must match, and so must the key facts in the Info column (packet kind,
protocol version, server version, user, database, error code, command).

A disagreement that is tshark's fault (it does not inflate compressed
packets and mislabels caching_sha2 AuthMoreData, PROVENANCE.md) is listed in
scripts/conformance-reviewed.tsv with the reason; such packets are reported
as "reviewed", never counted as agreement. Exit status 1 when any
disagreement is unexplained.
"""
import fnmatch
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE_EXT = (".pcap", ".pcapng", ".cap", ".trace")
TSHARK_FIELDS = ["frame.number", "frame.time_relative", "tcp.stream", "ip.src", "tcp.srcport",
                 "ip.dst", "tcp.dstport", "mysql.packet_length", "mysql.packet_number", "_ws.col.Info"]

COMMANDS = ["SLEEP", "Quit", "Use Database", "Query", "Show Fields", "Create Database", "Drop Database",
            "Refresh", "Shutdown", "Statistics", "Process List", "Connect", "Kill Server Thread",
            "Dump Debuginfo", "Ping", "Time", "Insert Delayed", "Change User", "Send Binlog", "Send Table",
            "Slave Connect", "Register Slave", "Prepare Statement", "Execute Statement", "Send BLOB",
            "Close Statement", "Reset Statement", "Set Option", "Fetch Data", "Daemon", "Binlog Dump GTID",
            "Reset Connection", "Clone", "Execute Bulk Statement"]
CMD_RE = "|".join(re.escape(c) for c in sorted(COMMANDS, key=len, reverse=True))
LABEL_RE = re.compile(
    r"Server Greeting\s+proto=(?P<proto>\d+) version=(?P<ver>\S*)"
    r"|Server Greeting\s+Error (?P<gerr>\d+)"
    r"|Login Request user=(?P<user>\S*)(?: db=(?P<db>\S*))?"
    r"|(?P<ssl>Response: SSL Handshake)"
    r"|Response\s+Error (?P<err>\d+)"
    r"|Response\s+(?P<ok>OK)"
    r"|(?P<asr>Auth Switch Request)"
    r"|(?P<asp>Auth Switch Response)"
    r"|Request (?P<cmd>Unknown \(\d+\)|" + CMD_RE + r")"
    r"|(?P<tab>TABULAR)")


def labels_from_info(info):
    out = []
    for m in LABEL_RE.finditer(info):
        g = m.groupdict()
        if g["proto"]:
            out.append(("greeting", g["proto"], g["ver"]))
        elif g["gerr"]:
            out.append(("err", g["gerr"]))
        elif g["user"] is not None and m.group(0).startswith("Login"):
            out.append(("login", g["user"], g["db"] or ""))
        elif g["ssl"]:
            out.append(("ssl_request",))
        elif g["err"]:
            out.append(("err", g["err"]))
        elif g["ok"]:
            out.append(("ok",))
        elif g["asr"]:
            out.append(("auth_switch_request",))
        elif g["asp"]:
            out.append(("auth_switch_response",))
        elif g["cmd"]:
            out.append(("command", g["cmd"]))
        elif g["tab"]:
            out.append(("column_count",))
    return out


def our_label(p):
    k, info = p["kind"], p["info"]
    if k == "greeting":
        m = re.match(r"Server Greeting proto=(\d+) version=(\S*)", info)
        return ("greeting", m.group(1), m.group(2))
    if k == "err":
        return ("err", info.rsplit(" ", 1)[1])
    if k == "login":
        m = re.match(r"Login Request user=(\S*)(?: db=(\S*))?", info)
        return ("login", m.group(1), m.group(2) or "")
    if k in ("ssl_request", "ok", "auth_switch_request", "auth_switch_response", "column_count"):
        return (k,)
    if k == "command":
        return ("command", info[len("Request "):])
    return None


def cut_kinds_agree(info, ours):
    """A frame a snaplen cut: tshark names each packet without its fields
    ("Server Greeting  proto=10[Packet size limited during capture]"), we
    name it as far as its bytes go; the first two words must agree."""
    if "[Packet size limited during capture]" not in info or not ours:
        return False
    if len(ours) != 1:
        return False
    info = info.replace("[Packet size limited during capture]", " ")
    return info.split()[:2] == ours[0]["info"].split()[:2]


def parse_ports(root):
    """Extra server ports per capture: PROVENANCE.md's table and ports.tsv."""
    rules = []
    prov = os.path.join(root, "PROVENANCE.md")
    if os.path.exists(prov):
        for line in open(prov, encoding="utf-8"):
            m = re.match(r"\|\s*(\d+)\s*\|\s*(.+?)\s*\|\s*$", line)
            if not m:
                continue
            port, names = int(m.group(1)), m.group(2)
            names = re.sub(r"\s*\(.*?\)", "", names)
            d = ""
            for n in [x.strip() for x in names.split(",")]:
                if "/" in n:
                    d, n = n.rsplit("/", 1)
                rules.append((os.path.join(d, n), port))
    tsv = os.path.join(root, "ports.tsv")
    if os.path.exists(tsv):
        for line in open(tsv, encoding="utf-8"):
            if line.strip() and not line.startswith("#"):
                name, port = line.split()[:2]
                rules.append((name, int(port)))
    return rules


def ports_for(rel, rules):
    stem = rel
    for ext in CAPTURE_EXT:
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    return sorted({p for pat, p in rules if fnmatch.fnmatch(stem, pat) or fnmatch.fnmatch(rel, pat)})


def tshark_rows(path, ports):
    oracle = path + ".tshark.txt"
    if not os.path.exists(oracle):
        cmd = ["tshark", "-r", path, "-d", "tcp.port==3306,mysql"]
        for p in ports:
            cmd += ["-d", f"tcp.port=={p},mysql"]
        cmd += ["-Y", "mysql", "-T", "fields", "-E", "header=y", "-E", "separator=/t"]
        for f in TSHARK_FIELDS:
            cmd += ["-e", f]
        try:
            text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        except FileNotFoundError:
            sys.exit(f"conformance: {oracle} is missing and tshark is not installed (run scripts/setup.sh)")
        with open(oracle, "w", encoding="utf-8") as f:
            f.write(text)
    rows = {}
    for line in open(oracle, encoding="utf-8", errors="replace"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 10 or parts[0] == "frame.number":
            continue
        lens = [int(x) for x in parts[7].split(",") if x]
        seqs = [int(x) for x in parts[8].split(",") if x]
        rows[int(parts[0])] = (lens, seqs, parts[9])
    return rows


def tshark_streams(path):
    """TCP streams in which tshark decoded MySQL (from the cached oracle)."""
    out = set()
    for line in open(path + ".tshark.txt", encoding="utf-8", errors="replace"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) >= 10 and parts[0] != "frame.number" and parts[2].isdigit():
            out.add(int(parts[2]))
    return out


def connections_check(binary, path, ports):
    """decode (connection mode) must exit 0/1 and give a record for every
    stream in which tshark saw MySQL. Returns a problem, or None, and the
    number of records."""
    cmd = [binary, "decode", "--format", "jsonl"]
    for p in ports:
        cmd += ["--port", str(p)]
    res = subprocess.run(cmd + [path], capture_output=True, text=True)
    if res.returncode not in (0, 1):
        return f"decode (connections) failed ({res.returncode}): {res.stderr.strip()[:300]}", 0
    recs = [json.loads(l) for l in res.stdout.splitlines()]
    if not recs or recs[-1].get("type") != "summary":
        return "decode (connections) wrote no summary", 0
    conns = [r for r in recs if r.get("type") == "connection"]
    ours = {r["stream"] for r in conns}
    missing = sorted(tshark_streams(path) - ours)
    if missing:
        return f"no connection record for MySQL stream(s) {missing[:10]}", len(conns)
    return None, len(conns)


def load_reviewed():
    out = []
    path = os.path.join(HERE, "conformance-reviewed.tsv")
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            if line.strip() and not line.startswith("#"):
                f, frame, reason = line.rstrip("\n").split("\t", 2)
                out.append([f, frame, reason, 0])
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: conformance.py BINARY DIR")
    binary, root = sys.argv[1], os.path.abspath(sys.argv[2])
    rules = parse_ports(root)
    reviewed = load_reviewed()
    total = agree = rev = 0
    bad = []
    records = 0
    files = []
    for d, _, names in os.walk(root):
        files += [os.path.join(d, n) for n in names if n.endswith(CAPTURE_EXT)]
    for path in sorted(files):
        rel = os.path.relpath(path, root)
        ports = ports_for(rel, rules)
        cmd = [binary, "decode", "--packets", "--format", "jsonl"]
        for p in ports:
            cmd += ["--port", str(p)]
        res = subprocess.run(cmd + [path], capture_output=True, text=True)
        if res.returncode not in (0, 1):
            bad.append(f"{rel}: decoder failed ({res.returncode}): {res.stderr.strip()}")
            continue
        ours = {}
        for line in res.stdout.splitlines():
            rec = json.loads(line)
            if rec["type"] == "packet":
                ours.setdefault(rec["frame"], []).append(rec)
        theirs = tshark_rows(path, ports)
        problem, n = connections_check(binary, path, ports)
        records += n
        if problem:
            bad.append(f"{rel}\t{problem}")
        for frame in sorted(set(theirs) | set(ours)):
            t = theirs.get(frame, ([], [], ""))
            o = ours.get(frame, [])
            n = max(len(t[0]), 1) if frame in theirs else len(o)
            total += n if frame in theirs else 0
            o_lens = [p["len"] for p in o]
            o_seqs = [p["seq"] for p in o]
            o_labels = [lab for lab in (our_label(p) for p in o) if lab]
            if frame in theirs and (o_lens, o_seqs) == (t[0], t[1]) and o_labels == labels_from_info(t[2]):
                agree += n
                continue
            if frame in theirs and (o_lens, o_seqs) == (t[0], t[1]) and cut_kinds_agree(t[2], o):
                agree += n
                continue
            hit = next((r for r in reviewed if fnmatch.fnmatch(rel, r[0]) and (r[1] == "*" or r[1] == str(frame))), None)
            if hit:
                hit[3] += 1
                rev += n if frame in theirs else 0
                continue
            ours_txt = "; ".join(f"len={p['len']} seq={p['seq']} {p['info']}" for p in o) or "(nothing)"
            theirs_txt = f"lens={t[0]} seqs={t[1]} {t[2].strip()}" if frame in theirs else "(nothing)"
            bad.append(f"{rel}\tframe {frame}\ttshark: {theirs_txt}\tours: {ours_txt}")
    print(f"conformance: {agree}/{total} packets agree ({rev} reviewed as tshark errors, {len(bad)} unexplained disagreements) in {len(files)} captures under {root}")
    print(f"conformance: {records} connection records, one for every TCP stream tshark decodes as MySQL")
    for r in reviewed:
        if r[3] == 0 and any(fnmatch.fnmatch(os.path.relpath(p, root), r[0]) for p in files):
            print(f"note: reviewed entry unused: {r[0]} {r[1]}")
    for b in bad:
        print("DISAGREE\t" + b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
