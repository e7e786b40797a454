#!/usr/bin/env python3
"""Zegel delivery throughput benchmark (see docs/benchmarks.md, "Delivery throughput").

Baseline: a private Postfix instance on 127.0.0.1 that accepts 10 KiB messages from
`smtp-source -s 20 -l 10240` and discards them after queueing -> Postfix msgs/s.

Zegel (SQLite, then PostgreSQL): `zegel serve` relaying through Postfix's `smtp-sink` on
127.0.0.1. N secure sends (`POST /api/v1/messages`, 10 KiB body, one `email` recipient,
unique addresses), C in flight. Measured:
  sends/s       N / time until every POST answered 201
  end-to-end/s  N / time from the first POST until every recipient is `notified`
  drain/s       notifications per second after the last POST (jobs_pending from /metrics)
and the CPU seconds used by zegel, the client, smtp-sink and PostgreSQL.

--warmup W: W sends, all notified, then ANALYZE (PostgreSQL), before the measured N: an
installation that has run for a while instead of an empty one (PostgreSQL plans prepared
statements for the table sizes it knew, and an empty database's plans scan tables that grow
during the run until autovacuum's first ANALYZE, a minute later). PGPORT chooses the
PostgreSQL port (5432).

Goal (issue): Zegel end-to-end msgs/s >= Postfix msgs/s. A miss prints FAIL and exits 0;
exit 1 only when something broke. Python 3 standard library only; run as root (Postfix).
Builds nothing: scripts/bench_delivery.sh builds the release binary first.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

BODY_BYTES = 10240
TICK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[bench-delivery] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"nothing listens on 127.0.0.1:{port}")


def cpu_secs(pids) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            total += int(parts[11]) + int(parts[12]) + int(parts[13]) + int(parts[14])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def pids_named(name: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() == name:
                        out.append(int(d))
            except OSError:
                pass
    return out


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --------------------------------------------------------------------------- Postfix


def postfix_baseline(base: str, n: int, sessions: int) -> dict:
    d = os.path.join(base, "postfix")
    os.makedirs(os.path.join(d, "queue"))
    os.makedirs(os.path.join(d, "data"))
    os.chmod(base, 0o755)
    os.chmod(d, 0o755)
    shutil.chown(os.path.join(d, "data"), "postfix")
    port = free_port()
    main_cf = f"""compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.example.nl
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
relay_domains = example.nl
default_transport = discard:
relay_transport = discard:
alias_maps =
alias_database =
local_recipient_maps =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
syslog_name = postfix-bench
"""
    with open(os.path.join(d, "main.cf"), "w") as f:
        f.write(main_cf)
    # The Debian master.cf with smtpd on our port and no chroot.
    lines = []
    with open("/usr/share/postfix/master.cf.dist") as f:
        for line in f:
            if line.startswith("#"):
                continue
            cols = line.split()
            if line[:1].isalpha() and len(cols) >= 8:
                if cols[0] == "smtp" and cols[1] == "inet":
                    cols[0] = f"127.0.0.1:{port}"
                if cols[4] == "y":
                    cols[4] = "n"
                line = "  ".join(cols) + "\n"
            lines.append(line)
    with open(os.path.join(d, "master.cf"), "w") as f:
        f.writelines(lines)
    r = subprocess.run(["postfix", "-c", d, "start"], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"postfix start failed: {r.stderr.strip()}")
    try:
        wait_port(port)
        log(f"Postfix on 127.0.0.1:{port}; smtp-source -s {sessions} -l {BODY_BYTES} -m {n}")
        before = os.times()
        t0 = time.monotonic()
        r = subprocess.run(
            ["smtp-source", "-s", str(sessions), "-l", str(BODY_BYTES), "-m", str(n),
             "-f", "a@example.nl", "-t", "b@example.nl", f"127.0.0.1:{port}"],
            capture_output=True, text=True,
        )
        secs = time.monotonic() - t0
        after = os.times()
        if r.returncode != 0:
            raise BenchError(f"smtp-source failed: {r.stderr.strip()}")
        client_cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system)
    finally:
        subprocess.run(["postfix", "-c", d, "stop"], capture_output=True)
    return {"n": n, "sessions": sessions, "secs": secs, "msgs_per_s": n / secs,
            "client_cpu": client_cpu}


# --------------------------------------------------------------------------- Zegel


class Server:
    def __init__(self, zegel: str, env: dict, log_path: str):
        self.log_path = log_path
        lf = open(log_path, "wb")
        self.proc = subprocess.Popen([zegel, "serve"], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=lf, text=True)
        lf.close()
        self.url = ""
        found = threading.Event()

        def drain():
            for line in self.proc.stdout:
                m = re.search(r"listening on (http://\S+)", line)
                if m and not found.is_set():
                    self.url = m.group(1).rstrip("/")
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + 60
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError("zegel serve did not start; log tail:\n" + tail(log_path))
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tail(path: str, n: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def request(conn, method, path, token=None, body=None):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def jobs_pending(srv: Server) -> int:
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    try:
        st, body = request(c, "GET", "/metrics")
    finally:
        c.close()
    m = re.search(rb"^zegel_jobs_pending (\d+)", body, re.M)
    if st != 200 or not m:
        raise BenchError(f"/metrics: {st}")
    return int(m.group(1))


def run_zegel(label: str, zegel: str, base: str, db_url: str | None, n: int, conc: int,
              sink_port: int, sink_pids: list[int], timeout: float, client: str,
              warmup: int = 0) -> dict:
    data = os.path.join(base, f"data-{label}")
    os.makedirs(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEGEL_")}
    env.update(ZEGEL_DATA_DIR=data, ZEGEL_LISTEN="127.0.0.1:0",
               ZEGEL_SMTP_URL=f"smtp://127.0.0.1:{sink_port}", ZEGEL_SMTP_TLS="none",
               ZEGEL_MAIL_FROM="zegel@example.nl", ZEGEL_PUBLIC_URL="https://zegel.example.nl")
    if db_url:
        env["ZEGEL_DATABASE_URL"] = db_url
    env.setdefault("RUST_LOG", "warn")
    r = subprocess.run([zegel, "admin", "token", "create", "--email", "bench@example.nl"],
                       env=env, capture_output=True, text=True, timeout=120)
    token = r.stdout.strip()
    if r.returncode != 0 or not token.startswith("zgl_"):
        raise BenchError(f"token create failed: {r.stderr.strip()[-500:]}")
    srv = Server(zegel, env, os.path.join(base, f"zegel-{label}.log"))
    try:
        db_counts = StatusCounter(data, db_url)
        if warmup:
            # A running installation, not a new one: messages already sent and the planner's
            # statistics of them, which autovacuum gathers within a minute (PostgreSQL plans
            # its prepared statements for the table sizes it last knew).
            _drive(f"{label} warm-up", srv, token, warmup, conc, sink_pids, timeout, client,
                   db_counts)
            if db_url:
                pg_analyze(db_url)
            db_counts.base = db_counts.counts()
        return _drive(label, srv, token, n, conc, sink_pids, timeout, client, db_counts)
    finally:
        srv.stop()


class StatusCounter:
    """Recipient statuses straight from the database (exact; the API lists pages by time)."""

    def __init__(self, data_dir: str, db_url: str | None):
        self.data_dir, self.db_url = data_dir, db_url
        # Counted before the measured sends (the warm-up's), left out of `counts`.
        self.base: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        now = self._counts()
        left = {st: c - self.base.get(st, 0) for st, c in now.items()}
        return {st: c for st, c in left.items() if c}

    def _counts(self) -> dict[str, int]:
        sql = "SELECT status, count(*) FROM recipients GROUP BY status"
        if self.db_url is None:
            import sqlite3
            path = os.path.join(self.data_dir, "zegel.db")
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                return {st: c for st, c in con.execute(sql)}
            finally:
                con.close()
        u = urllib.parse.urlsplit(self.db_url)
        r = subprocess.run(["psql", "-h", u.hostname, "-U", u.username, "-d", u.path[1:],
                            "-v", "ON_ERROR_STOP=1", "-AtF", " ", "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"psql: {r.stderr.strip()}")
        return {st: int(c) for st, c in (ln.split() for ln in r.stdout.split("\n") if ln)}


WRK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_send.lua")


def send_wrk(srv, token: str, n: int, conc: int, errors: list[str]) -> tuple[int, float]:
    """wrk (C, like smtp-source) sends; returns (201 answers, wrk CPU seconds)."""
    threads = 2 if conc >= 2 else 1
    quota = -(-n // threads)
    run_id = secrets.token_hex(4)
    marker = tempfile.mkdtemp(prefix="zegel-wrk-")
    before = os.times()
    p = subprocess.Popen(["wrk", "-t", str(threads), "-c", str(conc), "-d", "3600s",
                          "--timeout", "60s", "-s", WRK_SCRIPT, f"http://{srv.host}:{srv.port}",
                          "--", token, run_id, str(quota), marker],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Each wrk thread stops after its quota and leaves a file; wrk then still sleeps out -d,
    # and SIGINT ends that sleep and prints the summary.
    while p.poll() is None and len(os.listdir(marker)) < threads:
        time.sleep(0.005)
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    out, err = p.communicate()
    shutil.rmtree(marker, ignore_errors=True)
    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system -
                                                           before.children_system)
    vals = dict(re.findall(r"^(ZEGEL_\w+) (\d+)$", r.stdout, re.M))
    if r.returncode != 0 or "ZEGEL_CREATED" not in vals:
        errors.append(f"wrk failed ({r.returncode}): {r.stderr.strip()[-300:]} {r.stdout[-300:]}")
        return 0, cpu
    if int(vals["ZEGEL_ERRORS"]):
        errors.append(f"wrk: {vals['ZEGEL_ERRORS']} requests failed:\n{r.stdout[-800:]}")
    log(f"wrk latency p50 {int(vals['ZEGEL_LATENCY_P50_US']) / 1000:.1f} ms, "
        f"p99 {int(vals['ZEGEL_LATENCY_P99_US']) / 1000:.1f} ms")
    return int(vals["ZEGEL_CREATED"]), cpu


def _drive(label, srv, token, n, conc, sink_pids, timeout, client, db_counts) -> dict:
    p0 = jobs_pending(srv)
    rnd = random.Random()
    letters = string.ascii_letters
    run_id = secrets.token_hex(4)
    bodies = ["".join(rnd.choices(letters, k=BODY_BYTES)) for _ in range(64)]
    ids: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker():
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None or errors:
                break
            msg = {"subject": f"bench {i}", "body": bodies[i % len(bodies)], "reply": "off",
                   "recipients": [{"email": f"r{i}-{run_id}@example.nl", "verification": "email"}]}
            try:
                st, body = request(conn, "POST", "/api/v1/messages", token, msg)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
                with lock:
                    errors.append(f"POST: {e!r}")
                break
            if st != 201:
                with lock:
                    errors.append(f"POST {st}: {body[:200]!r}")
                break
            with lock:
                ids.append(json.loads(body)["id"])
        conn.close()

    zpid = [srv.proc.pid]

    def pg_cpu() -> dict[int, float]:
        # Per process: the pool opens most backends after the run starts.
        return {pid: cpu_secs([pid]) for pid in pids_named("postgres")}
    wrk_cpu = [0.0]
    if client == "wrk":
        def wrk_worker():
            created, wrk_cpu[0] = send_wrk(srv, token, n, conc, errors)
            with lock:
                ids.extend([""] * created)
        threads = [threading.Thread(target=wrk_worker)]
    else:
        threads = [threading.Thread(target=worker) for _ in range(conc)]

    def client_cpu() -> float:
        return self_cpu() + wrk_cpu[0]

    c0 = (cpu_secs(zpid), client_cpu(), cpu_secs(sink_pids), pg_cpu())
    log(f"{label}: {n} POSTs, {conc} in flight, client {client}")
    t0 = time.monotonic()
    for t in threads:
        t.start()
    samples = []  # (t, pending) while sending, to see the worker keep up or not
    while any(t.is_alive() for t in threads):
        time.sleep(0.25)
        samples.append((time.monotonic() - t0, jobs_pending(srv)))
    for t in threads:
        t.join()
    t_sent = time.monotonic() - t0
    c1 = (cpu_secs(zpid), client_cpu(), cpu_secs(sink_pids), pg_cpu())
    if errors:
        raise BenchError(f"{label}: {errors[0]} (log tail:\n{tail(srv.log_path)})")
    pend_sent = jobs_pending(srv)
    while True:
        if srv.proc.poll() is not None:
            raise BenchError(f"{label}: zegel serve died:\n{tail(srv.log_path)}")
        p = jobs_pending(srv)
        if p <= p0:
            break
        if time.monotonic() - t0 > timeout:
            raise BenchError(f"{label}: {p - p0} jobs still pending after {timeout} s")
        time.sleep(0.05)
    t_done = time.monotonic() - t0
    c2 = (cpu_secs(zpid), client_cpu(), cpu_secs(sink_pids), pg_cpu())
    # Every 201 counts as a send; wrk may leave a few requests in flight when it stops,
    # which the server may still store, so the database can hold a few more than n.
    n = len(ids)
    # Confirm: every recipient `notified`, counted in the database.
    statuses = db_counts.counts()
    if statuses.get("notified", 0) < n or set(statuses) != {"notified"}:
        raise BenchError(f"{label}: recipient statuses after the queue emptied: {statuses} "
                         f"({n} sends answered 201)")
    n = statuses["notified"]
    # And through the API (pages of 200, newest first), when the Python client kept the ids.
    if client == "wrk":
        return _result(label, n, conc, t_sent, t_done, pend_sent, p0, c0, c1, c2, samples)
    statuses = {}
    seen = 0
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
    before = None
    while True:
        q = "/api/v1/messages?limit=200" + (f"&before={urllib.parse.quote(before)}" if before else "")
        st, body = request(conn, "GET", q, token)
        if st != 200:
            raise BenchError(f"{label}: list {st}: {body[:200]!r}")
        page = json.loads(body)["messages"]
        if not page:
            break
        for m in page:
            seen += 1
            for rc in m.get("recipients", []):
                statuses[rc["status"]] = statuses.get(rc["status"], 0) + 1
        nb = page[-1]["sent_at"]
        if nb == before or len(page) < 200:
            break
        before = nb
    conn.close()
    if statuses.get("notified", 0) < n:
        # Pages are by creation time (ms): a tie at a page edge can hide a few; check by id.
        statuses = {}
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
        for mid in ids:
            st, body = request(conn, "GET", f"/api/v1/messages/{mid}", token)
            for rc in json.loads(body)["recipients"]:
                statuses[rc["status"]] = statuses.get(rc["status"], 0) + 1
        conn.close()
    if statuses.get("notified", 0) != n:
        raise BenchError(f"{label}: recipient statuses after the queue emptied: {statuses}")
    return _result(label, n, conc, t_sent, t_done, pend_sent, p0, c0, c1, c2, samples)


def cpu_delta(before, after) -> float:
    """CPU seconds between two snapshots: numbers, or {pid: seconds} (a new pid started at 0)."""
    if isinstance(after, dict):
        return sum(v - before.get(pid, 0.0) for pid, v in after.items())
    return after - before


def _result(label, n, conc, t_sent, t_done, pend_sent, p0, c0, c1, c2, samples) -> dict:
    drained = pend_sent - p0
    drain_secs = t_done - t_sent
    res = {
        "label": label, "n": n, "concurrency": conc,
        "send_secs": t_sent, "sends_per_s": n / t_sent,
        "e2e_secs": t_done, "e2e_per_s": n / t_done,
        "notified_during_sends": n - drained,
        "pending_after_sends": drained,
        "drain_per_s": drained / drain_secs if drained > 0 and drain_secs > 0 else None,
        "notify_per_s_overall": n / t_done,
        "cpu_send": {k: cpu_delta(c0[i], c1[i]) for i, k in enumerate(("zegel", "client", "sink", "postgres"))},
        "cpu_drain": {k: cpu_delta(c1[i], c2[i]) for i, k in enumerate(("zegel", "client", "sink", "postgres"))},
        "pending_samples": samples[:: max(1, len(samples) // 20)],
    }
    log(f"{label}: sends {res['sends_per_s']:.0f}/s, end-to-end {res['e2e_per_s']:.0f}/s")
    return res


# --------------------------------------------------------------------------- PostgreSQL


def pg_admin(sql: str, host: str, user: str) -> None:
    r = subprocess.run(["psql", "-h", host, "-U", user, "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                        "-Atc", sql], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"psql: {r.stderr.strip()}")


def pg_analyze(url: str) -> None:
    """ANALYZE of the database at `url` (what autovacuum does within a minute)."""
    r = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", "ANALYZE"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"psql ANALYZE: {r.stderr.strip()}")


# --------------------------------------------------------------------------- main


def clean_up(sink, db, pg_host, pg_user):
    """Stops the smtp-sink and drops the benchmark's database (also after a failure)."""
    if sink and sink.poll() is None:
        sink.terminate()
        sink.wait()
    if db:
        try:
            pg_admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", pg_host, pg_user)
        except BenchError as e:
            log(f"drop database {db}: {e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--messages", type=int, default=2000)
    ap.add_argument("--postfix-messages", type=int, default=None, help="default: -n")
    ap.add_argument("--sessions", type=int, default=20, help="smtp-source -s")
    ap.add_argument("-c", "--concurrency", type=int, default=16, help="POSTs in flight")
    ap.add_argument("--zegel", default=None)
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-user", default="postgres")
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--keep-db", action="store_true",
                    help="keep the PostgreSQL database (its name is logged), e.g. to EXPLAIN")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", default=None)
    ap.add_argument("--client", choices=("wrk", "python"), default=None,
                    help="HTTP client: wrk (C, like smtp-source; default when installed) or "
                         "the Python standard library")
    ap.add_argument("--warmup", type=int, default=0,
                    help="sends notified before the measured ones (then ANALYZE on "
                         "PostgreSQL): a running installation instead of an empty one "
                         "(wrk client only)")
    args = ap.parse_args()
    client = args.client or ("wrk" if shutil.which("wrk") else "python")
    if args.warmup and client != "wrk":
        log("--warmup needs the wrk client (the Python one checks every message by the API)")
        return 2
    zegel = args.zegel or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "zegel")
    for tool in ("smtp-source", "smtp-sink", "postfix"):
        if not shutil.which(tool):
            log(f"{tool} missing (apt-get install postfix; scripts/bench_delivery.sh does it)")
            return 2
    if not os.access(zegel, os.X_OK):
        log(f"no zegel binary at {zegel}")
        return 2
    base = tempfile.mkdtemp(prefix="zegel-bench-delivery-")
    sink = None
    db = None
    results: dict = {"load_before": os.getloadavg(), "cpus": os.cpu_count(), "client": client}
    try:
        results["postfix"] = postfix_baseline(base, args.postfix_messages or args.messages,
                                              args.sessions)
        sink_port = free_port()
        # smtp-sink: accept everything, no output per message; backlog 1000.
        sink = subprocess.Popen(["smtp-sink", "-u", "postfix", f"127.0.0.1:{sink_port}", "1000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(sink_port)
        results["zegel"] = []
        if not args.skip_sqlite:
            results["zegel"].append(run_zegel("sqlite", zegel, base, None, args.messages,
                                              args.concurrency, sink_port, [sink.pid],
                                              args.timeout, client, args.warmup))
        if not args.skip_postgres:
            db = "zegel_bench_" + secrets.token_hex(4)
            if args.keep_db:
                log(f"keeping database {db}")
            pg_admin(f"CREATE DATABASE {db}", args.pg_host, args.pg_user)
            url = f"postgres://{args.pg_user}@{args.pg_host}:{os.environ.get('PGPORT', '5432')}/{db}"
            results["zegel"].append(run_zegel("postgres", zegel, base, url, args.messages,
                                              args.concurrency, sink_port, [sink.pid],
                                              args.timeout, client, args.warmup))
    except BenchError as e:
        log(f"ERROR: {e}")
        return 1
    finally:
        clean_up(sink, None if args.keep_db else db, args.pg_host, args.pg_user)
        shutil.rmtree(base, ignore_errors=True)
    results["load_after"] = os.getloadavg()
    report(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def report(res: dict) -> None:
    pf = res["postfix"]["msgs_per_s"]
    print()
    print(f"CPUs: {res['cpus']}; load average before {fmt_load(res['load_before'])}, "
          f"after {fmt_load(res['load_after'])}; HTTP client: {res['client']}")
    print(f"{'':40} {'msgs/s':>8} {'ratio':>7}")
    print(f"{'Postfix smtp-source (10 KiB)':40} {pf:8.0f} {1:7.2f}   "
          f"({res['postfix']['n']} msgs, -s {res['postfix']['sessions']}, "
          f"{res['postfix']['secs']:.2f} s, smtp-source CPU {res['postfix']['client_cpu']:.2f} s)")
    for z in res["zegel"]:
        lab = "SQLite" if z["label"] == "sqlite" else "PostgreSQL"
        print(f"{'Zegel ' + lab + ' sends':40} {z['sends_per_s']:8.0f} {z['sends_per_s'] / pf:7.2f}")
        print(f"{'Zegel ' + lab + ' end-to-end (notified)':40} {z['e2e_per_s']:8.0f} "
              f"{z['e2e_per_s'] / pf:7.2f}")
        d = z["drain_per_s"]
        print(f"{'Zegel ' + lab + ' notify drain':40} {d if d else 0:8.0f} "
              f"{(d or 0) / pf:7.2f}   ({z['pending_after_sends']} pending when the "
              f"last POST returned)")
    print()
    for z in res["zegel"]:
        s, dr = z["cpu_send"], z["cpu_drain"]
        print(f"{z['label']}: send phase {z['send_secs']:.2f} s, CPU s zegel {s['zegel']:.2f} "
              f"client {s['client']:.2f} sink {s['sink']:.2f} postgres {s['postgres']:.2f}; "
              f"drain phase {z['e2e_secs'] - z['send_secs']:.2f} s, zegel {dr['zegel']:.2f} "
              f"sink {dr['sink']:.2f} postgres {dr['postgres']:.2f}")
    print()
    for z in res["zegel"]:
        ok = z["e2e_per_s"] >= pf
        print(f"{'PASS' if ok else 'FAIL'}: Zegel {z['label']} end-to-end {z['e2e_per_s']:.0f} "
              f"msgs/s vs Postfix {pf:.0f} msgs/s (goal: at least the same)")


def fmt_load(la) -> str:
    return " ".join(f"{x:.2f}" for x in la)


if __name__ == "__main__":
    sys.exit(main())
