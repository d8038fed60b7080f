#!/usr/bin/env python3
"""Handshake throughput and latency: handshake-probe side by side with two
independent real clients making the same number of new connections to the
same private MariaDB, in the same run.

  - handshake-probe -n N -c C (a login per connection, then COM_QUIT), on
    one thread, with --threads 2 and with its default threads
  - a raw-socket C loop: C processes, each doing exactly that work and
    nothing else (socket, connect, greeting, mysql_native_password login,
    OK, COM_QUIT, close; benches/baseline/raw_loop.c): the floor
  - MariaDB Connector/C (libmariadb): C processes, each a minimal
    mysql_real_connect/mysql_close loop (benches/baseline/connect_loop.c).
    mariadb-slap was tried first and dropped: with --query, its --detach=1
    does not reconnect per query in 10.11 (12 connections for 2000 queries,
    counted by the server's Connections status)
  - PyMySQL: C processes, each a connect/close loop (TLS off, as the
    issue advises: PyMySQL builds an SSL context per connection)

CPU is user+system time of the tool's whole process tree (getrusage of the
children), so 'CPU per handshake' compares the clients' own cost. The
server's CPU per handshake (its /proc stat, HSP_SERVER_PID) is a column of
its own: a client's timing and manners move it too.

Every client here closes first (COM_QUIT then close, as mysql_close does),
so each run leaves its connections in TIME_WAIT on the client side, and at
these rates the next run's connect() searches a port range filling with
them: whichever tool ran after the biggest pile paid for it (the raw loop
once measured 12k/s at 108 us where it had 20k/s at 42 us). So each run
starts from the same state: the TIME_WAITs of connections to this private
server, and only those, are dropped first (`ss -K`, our own sockets).
Called by scripts/bench-probe.sh, which starts and stops the server.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

PORT = int(os.environ["HSP_PORT"])
SERVER_PID = os.environ.get("HSP_SERVER_PID")
N = int(os.environ.get("HSP_N", "5000"))
CONCURRENCY = [int(c) for c in os.environ.get("HSP_CONCURRENCY", "1 8").split()]
REPEAT = int(os.environ.get("HSP_REPEAT", "3"))
PROBE = os.environ.get("HSP_PROBE", "target/release/handshake-probe")
USER, PASSWORD = "hsp_native", "native-secret"

PYMYSQL_WORKER = r"""
import sys, time, pymysql
n, port = int(sys.argv[1]), int(sys.argv[2])
lat = []
for _ in range(n):
    t = time.perf_counter()
    c = pymysql.connect(host="127.0.0.1", port=port, user="hsp_native",
                        password="native-secret", ssl_disabled=True)
    lat.append(time.perf_counter() - t)
    c.close()
print(" ".join(f"{x*1e6:.0f}" for x in lat))
"""


def server_cpu():
    """The server's user+system seconds so far (0 without its PID)."""
    if not SERVER_PID:
        return 0.0
    with open(f"/proc/{SERVER_PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clear_time_wait():
    """Drops the TIME_WAIT sockets of earlier runs' connections to the
    private server, so every run starts with the same free ports."""
    subprocess.run(["ss", "-K", "-tan", "state", "time-wait",
                    f"( dport = :{PORT} or sport = :{PORT} )"],
                   check=False, capture_output=True)


def measured(fn):
    """Runs fn() (which spawns and waits for children); returns
    (result, wall seconds, child CPU seconds, server CPU seconds)."""
    clear_time_wait()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = server_cpu()
    t0 = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return result, wall, cpu, server_cpu() - s0


def probe(c, threads=None):
    """The probe at concurrency c, on `threads` threads (None: its default)."""
    out = subprocess.run(
        [PROBE, "-n", str(N), "-c", str(c)] + (["--threads", str(threads)] if threads else [])
        + ["-u", USER, f"--password={PASSWORD}",
         "--ssl-mode", "DISABLED", "--no-server-status", "--format", "json", "-q",
         f"127.0.0.1:{PORT}"],
        check=True, capture_output=True, text=True).stdout
    s = json.loads(out)
    assert s["verdicts"].get("ok") == N, s["verdicts"]
    t = s["phases_us"]["total"]
    return {"p50": t["p50"], "p90": t["p90"], "p99": t["p99"]}


def processes(c, argv):
    """C processes of argv + [n]; their latency lines, as percentiles."""
    per = [N // c + (1 if i < N % c else 0) for i in range(c)]
    procs = [subprocess.Popen(argv(n), stdout=subprocess.PIPE, text=True) for n in per]
    lat = []
    for p in procs:
        out, _ = p.communicate()
        assert p.returncode == 0
        lat += [int(x) for x in out.split()]
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    return {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99)}


def connector_c(c):
    return processes(c, lambda n: [CONNECT_LOOP, str(n), str(PORT), USER, PASSWORD])


def raw_loop(c):
    return processes(c, lambda n: [RAW_LOOP, str(n), str(PORT), USER, PASSWORD])


def pymysql_loop(c):
    return processes(c, lambda n: [sys.executable, "-c", PYMYSQL_WORKER, str(n), str(PORT)])


CONNECT_LOOP = os.environ.get("HSP_CONNECT_LOOP", "target/connect_loop")
RAW_LOOP = os.environ.get("HSP_RAW_LOOP", "target/raw_loop")
# (name, run, the least concurrency where it differs from the rows above:
# the probe never has more threads than workers).
TOOLS = [("handshake-probe --threads 1", lambda c: probe(c, 1), 1),
         ("handshake-probe --threads 2 (one per CPU)", lambda c: probe(c, 2), 2),
         ("handshake-probe (default: 4 per CPU, at most one per worker)", probe, 3),
         ("raw-socket C loop", raw_loop, 1),
         ("Connector/C loop", connector_c, 1), ("PyMySQL loop", pymysql_loop, 1)]


def main():
    print(f"# {N} new connections per run, median of {REPEAT} runs, MariaDB on 127.0.0.1:{PORT}, "
          f"{os.cpu_count()} CPUs")
    print("| tool | concurrency | handshakes/s | CPU µs/handshake | server CPU µs/handshake | p50 | p90 | p99 "
          "| rate vs raw loop | CPU vs raw loop |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in CONCURRENCY:
        # Rounds interleave the tools, so a slow minute of the shared
        # machine falls on all of them.
        tools = [(name, fn) for name, fn, least in TOOLS if c >= least]
        by_tool = {name: [] for name, _ in tools}
        for _ in range(REPEAT):
            for name, fn in tools:
                by_tool[name].append(measured(lambda: fn(c)))
        rows = []
        for name, _ in tools:
            runs = by_tool[name]
            rate = statistics.median(N / r[1] for r in runs)
            cpu = statistics.median(r[2] / N * 1e6 for r in runs)
            server = statistics.median(r[3] / N * 1e6 for r in runs)
            lat = runs[len(runs) // 2][0]
            rows.append((name, rate, cpu, server, lat))
        # Ratios against the floor: the raw-socket loop.
        base_rate, base_cpu = next((r[1], r[2]) for r in rows if r[0].startswith("raw-socket"))
        for name, rate, cpu, server, lat in rows:
            fmt = lambda k: f"{lat[k]/1000:.2f} ms" if k in lat else "n/a"
            shown = f"{server:.0f}" if SERVER_PID else "n/a"
            print(f"| {name} | {c} | {rate:,.0f} | {cpu:.0f} | {shown} | {fmt('p50')} | {fmt('p90')} "
                  f"| {fmt('p99')} | {rate/base_rate:.2f}x | {cpu/base_cpu:.2f}x |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
