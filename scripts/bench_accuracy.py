#!/usr/bin/env python3
"""The probe's phase timings against the wire's: the probe makes N
handshakes at concurrency C while tcpdump captures loopback; the capture is
decoded by handshake-probe decode; each probe record is matched to the
captured connection with the same client address and server connection id, and |probe - wire| is
taken per phase. Prints, per concurrency, the median and p99 of that error
and the wire's median, per phase. Called by scripts/bench-probe.sh
--accuracy, which starts and stops the server.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

PORT = int(os.environ["HSP_PORT"])
N = int(os.environ.get("HSP_N", "5000"))
CONCURRENCY = [int(c) for c in os.environ.get("HSP_CONCURRENCY", "1 8").split()]
PROBE = os.environ.get("HSP_PROBE", "target/release/handshake-probe")
PHASES = ["tcp_connect", "greeting", "client_reply", "login", "total"]


def run(c, tmp):
    cap = os.path.join(tmp, f"c{c}.pcap")
    # Not --immediate-mode: tcpdump woken for every packet takes CPU from
    # the probe and the server on a small machine (the observer's effect
    # was up to 15 µs on the client's sends); instead its ring is given
    # time to flush (libpcap's 1 s buffer timeout) before it is stopped.
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-B", "262144", "-s", "0", "-U", "-w", cap,
                             f"tcp port {PORT}"], stderr=subprocess.DEVNULL)
    time.sleep(1)
    out = subprocess.run(
        [PROBE, "-n", str(N), "-c", str(c), "-u", "hsp_native", "--password=native-secret",
         "--ssl-mode", "DISABLED", "--no-server-status", "--format", "jsonl", "-q",
         f"127.0.0.1:{PORT}"], check=True, capture_output=True, text=True).stdout
    time.sleep(2)
    dump.send_signal(signal.SIGINT)
    dump.wait()
    # A client port comes back within a run of thousands: the server's
    # connection id tells the connections apart.
    key = lambda r: (r.get("client"), r.get("connection_id"))
    probe = {key(r): r for r in map(json.loads, out.splitlines()) if r["type"] == "connection"}
    wire_out = subprocess.run([PROBE, "decode", "--format", "jsonl", "--port", str(PORT), cap],
                              capture_output=True, text=True).stdout
    wire = {key(r): r for r in map(json.loads, wire_out.splitlines()) if r["type"] == "connection"}
    errors = {p: [] for p in PHASES}
    medians = {p: [] for p in PHASES}
    clocks = {p: {} for p in PHASES}
    worst = []
    for client, r in probe.items():
        w = wire.get(client)
        if not w:
            continue
        for p in PHASES:
            a, b = r["phases_us"].get(p), w["phases_us"].get(p)
            if a is not None and b is not None:
                errors[p].append(abs(a - b))
                medians[p].append(b)
                clock = r.get("clocks", {}).get(p, "-")
                clocks[p][clock] = clocks[p].get(clock, 0) + 1
                worst.append((abs(a - b), p, clock, a, b, client))
    if os.environ.get("HSP_WORST"):
        for e in sorted(worst, reverse=True)[:int(os.environ["HSP_WORST"])]:
            print("# worst:", e, file=sys.stderr)
    matched = sum(1 for c in probe if c in wire)
    return errors, medians, clocks, matched, len(probe)


def q(v, f):
    v = sorted(v)
    return v[min(len(v) - 1, int(f * len(v)))] if v else float("nan")


def main():
    print(f"# accuracy: {N} handshakes per run, |probe - wire| per phase (wire: the same connections "
          f"captured by tcpdump on lo and decoded), µs")
    print("| concurrency | phase | wire median | error median | error p99 | timed by |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for c in CONCURRENCY:
            errors, medians, clocks, matched, total = run(c, tmp)
            for p in PHASES:
                n = sum(clocks[p].values()) or 1
                by = ", ".join(f"{k} {100 * v / n:.1f}%" for k, v in sorted(clocks[p].items(), key=lambda kv: -kv[1]))
                print(f"| {c} | {p} | {q(medians[p], 0.5):.0f} | {q(errors[p], 0.5):.0f} | {q(errors[p], 0.99):.0f} | {by} |")
            print(f"| {c} | (matched) | {matched} of {total} | | | |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
