#!/usr/bin/env python3
"""Zegel SMTP submission benchmark (see docs/benchmarks.md, "SMTP submission").

Baseline, in the same run: the private Postfix of bench_delivery.py accepting 10 KiB mails from
`smtp-source -s 20 -l 10240` (queued with fsync, then discarded) -> Postfix msgs/s.

Zegel (SQLite, then PostgreSQL): `zegel serve` with the submission listener
(ZEGEL_SUBMISSION_LISTEN, a certificate from a throw-away CA) relaying notifications through
Postfix's `smtp-sink`. S client sessions (STARTTLS, AUTH PLAIN once, then one mail after the
other, 10 KiB body, one unique recipient each) submit N mails. The client is
crates/zegel/examples/smtp_load.rs (Rust, lettre; `cargo build --release --example smtp_load`),
light like `smtp-source`, or with `--client python` Python's smtplib in 20 threads. Measured:
  accepted/s    N / time until every DATA answered 250 (the message stored durably)
  end-to-end/s  N / time from the first mail until the job queue is empty (every recipient
                notified through the sink)
and the CPU seconds of zegel, the client and PostgreSQL. --warmup W: W mails (to other
recipients, over 4 sessions), all notified, then ANALYZE (PostgreSQL), before the measured N,
as in bench_delivery.py. PGPORT chooses the PostgreSQL port (5432).
Goal (issue 15): end-to-end at least 1.0x Postfix. A miss prints FAIL and exits 0; exit 1 when
something broke. Run as root (Postfix); Python 3 standard library and openssl.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_delivery as bd  # noqa: E402

BODY_BYTES = bd.BODY_BYTES
WARMUP_SESSIONS = 4


def make_certs(d: str) -> tuple[str, str, str]:
    """A throw-away CA and a certificate for 127.0.0.1 signed by it."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bench CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
        "server.key", "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-extfile", "leaf.ext", "-out", "server.pem")
    return (os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"),
            os.path.join(d, "server.key"))


def mail(i: int, body: str) -> bytes:
    return (f"From: bench@example.nl\r\nTo: r{i}@example.nl\r\nSubject: [beveiligd] Bench {i}\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            ).encode()


def submit_all(port: int, ca: str, user: str, password: str, n: int, sessions: int,
               errors: list[str]) -> float:
    """N mails over `sessions` sessions; the seconds until the last 250."""
    body = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz \n") for _ in range(BODY_BYTES))
    ctx = ssl.create_default_context(cafile=ca)
    next_i = iter(range(n))
    lock = threading.Lock()
    barrier = threading.Barrier(sessions + 1)

    def worker():
        s = smtplib.SMTP("127.0.0.1", port, timeout=120)
        s.starttls(context=ctx)
        s.login(user, password)
        barrier.wait()
        try:
            while True:
                with lock:
                    i = next(next_i, None)
                if i is None:
                    break
                try:
                    s.sendmail("bench@example.nl", [f"r{i}@example.nl"], mail(i, body))
                except smtplib.SMTPException as e:
                    errors.append(f"mail {i}: {e}")
            s.quit()
        except Exception as e:  # noqa: BLE001 - reported, the run fails
            errors.append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    return time.monotonic() - t0


def submit_rust(client: str, port: int, ca: str, user: str, password: str, n: int,
                sessions: int, errors: list[str], first: int = 0) -> tuple[float, float]:
    """N mails through examples/smtp_load.rs, numbered from `first`: (seconds until the last
    250, its CPU seconds)."""
    before = os.times()
    r = subprocess.run([client, str(port), ca, user, password, str(n), str(sessions),
                        str(BODY_BYTES), str(first)], capture_output=True, text=True,
                       timeout=900)
    after = os.times()
    cpu = (after.children_user + after.children_system
           - before.children_user - before.children_system)
    if r.returncode != 0:
        errors.append(f"smtp_load: {r.stderr.strip()[-500:]}")
        return 0.0, cpu
    secs, failed = r.stdout.split()
    if int(failed):
        errors.append(f"{failed} mails refused: {r.stderr.strip()[-500:]}")
    return float(secs), cpu


def drain(srv, p0: int, timeout: float) -> None:
    """Waits until the job queue is back at `p0` jobs (every recipient notified)."""
    deadline = time.monotonic() + timeout
    while bd.jobs_pending(srv) > p0:
        if time.monotonic() > deadline:
            raise bd.BenchError("notifications did not drain in time")
        time.sleep(0.05)


def run_zegel(label: str, zegel: str, base: str, db_url: str | None, n: int, sessions: int,
              sink_port: int, certs, timeout: float, client: str | None,
              warmup: int = 0) -> dict:
    ca, cert, key = certs
    data = os.path.join(base, f"data-{label}")
    os.makedirs(data)
    smtp_port = bd.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEGEL_")}
    env.update(ZEGEL_DATA_DIR=data, ZEGEL_LISTEN="127.0.0.1:0",
               ZEGEL_SMTP_URL=f"smtp://127.0.0.1:{sink_port}", ZEGEL_SMTP_TLS="none",
               ZEGEL_MAIL_FROM="zegel@example.nl", ZEGEL_PUBLIC_URL="https://zegel.example.nl",
               ZEGEL_SUBMISSION_LISTEN=f"127.0.0.1:{smtp_port}",
               ZEGEL_SUBMISSION_TLS_CERT=cert, ZEGEL_SUBMISSION_TLS_KEY=key,
               ZEGEL_SUBMISSION_PER_MINUTE=str(max(600, 10 * n)))
    if db_url:
        env["ZEGEL_DATABASE_URL"] = db_url
    env.setdefault("RUST_LOG", "warn")
    r = subprocess.run([zegel, "admin", "smtp-credential", "create", "--email",
                        "bench@example.nl"], env=env, capture_output=True, text=True,
                       timeout=120)
    parts = r.stdout.split()
    if r.returncode != 0 or len(parts) != 2:
        raise bd.BenchError(f"smtp-credential create failed: {r.stderr.strip()[-500:]}")
    user, password = parts
    srv = bd.Server(zegel, env, os.path.join(base, f"zegel-{label}.log"))
    try:
        bd.wait_port(smtp_port)
        p0 = bd.jobs_pending(srv)
        errors: list[str] = []
        if warmup:
            # A running installation, not a new one: mails already sent (other recipients,
            # numbered after the measured ones) and the planner's statistics of them, which
            # autovacuum gathers within a minute (PostgreSQL plans its prepared statements
            # for the table sizes it last knew).
            # Over a few sessions: the measured run's sessions must still get past the
            # gateway's AUTH limit (a burst of 30).
            bd.log(f"{label}: warm-up, {warmup} mails")
            if client:
                submit_rust(client, smtp_port, ca, user, password, warmup, WARMUP_SESSIONS,
                            errors, first=10 * n + 1)
            else:
                submit_all(smtp_port, ca, user, password, warmup, WARMUP_SESSIONS, errors)
            if errors:
                raise bd.BenchError(f"warm-up failed: {errors[0]}")
            drain(srv, p0, timeout)
            if db_url:
                bd.pg_analyze(db_url)
        bd.log(f"{label}: {n} mails over {sessions} sessions (STARTTLS, AUTH once), "
               f"client {'rust' if client else 'python'}")
        zegel_cpu0 = bd.cpu_secs([srv.proc.pid])
        pg_cpu0 = bd.cpu_secs(bd.pids_named("postgres"))
        t_start = time.monotonic()
        if client:
            secs, client_cpu = submit_rust(client, smtp_port, ca, user, password, n, sessions,
                                           errors)
        else:
            cpu0 = bd.self_cpu()
            secs = submit_all(smtp_port, ca, user, password, n, sessions, errors)
            client_cpu = bd.self_cpu() - cpu0
        if errors:
            raise bd.BenchError(f"{len(errors)} submissions failed, first: {errors[0]}")
        drain(srv, p0, timeout)
        e2e = time.monotonic() - t_start
        zegel_cpu = bd.cpu_secs([srv.proc.pid]) - zegel_cpu0
        pg_cpu = bd.cpu_secs(bd.pids_named("postgres")) - pg_cpu0 if db_url else 0.0
        bd.log(f"{label}: accepted {n / secs:.0f}/s, end-to-end {n / e2e:.0f}/s; CPU s "
               f"zegel {zegel_cpu:.2f} client {client_cpu:.2f} postgres {pg_cpu:.2f}")
        return {"label": label, "n": n, "sessions": sessions, "accept_secs": secs,
                "accepted_per_s": n / secs, "e2e_secs": e2e, "e2e_per_s": n / e2e,
                "cpu": {"zegel": zegel_cpu, "client": client_cpu, "postgres": pg_cpu}}
    finally:
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--zegel", default=None)
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-user", default="postgres")
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--warmup", type=int, default=0,
                    help="mails sent and notified before the measured ones (then ANALYZE on "
                         "PostgreSQL): a running installation instead of an empty one")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--client", choices=("rust", "python"), default=None,
                    help="the submitting client: examples/smtp_load.rs (default when built: "
                         "cargo build --release --example smtp_load) or Python's smtplib")
    ap.add_argument("--load-client", default=None, help="path of the smtp_load example")
    args = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    zegel = args.zegel or os.path.join(target, "release", "zegel")
    load = args.load_client or os.path.join(target, "release", "examples", "smtp_load")
    if args.client == "rust" and not os.access(load, os.X_OK):
        bd.log(f"no smtp_load at {load} (cargo build --release --example smtp_load)")
        return 2
    client = load if args.client != "python" and os.access(load, os.X_OK) else None
    for tool in ("smtp-source", "smtp-sink", "postfix", "openssl"):
        if not shutil.which(tool):
            bd.log(f"{tool} missing (apt-get install postfix openssl)")
            return 2
    if not os.access(zegel, os.X_OK):
        bd.log(f"no zegel binary at {zegel}")
        return 2
    base = tempfile.mkdtemp(prefix="zegel-bench-submission-")
    sink = None
    db = None
    load_before = os.getloadavg()
    try:
        certs = make_certs(base)
        postfix = bd.postfix_baseline(base, args.messages, args.sessions)
        sink_port = bd.free_port()
        sink = subprocess.Popen(["smtp-sink", "-u", "postfix", f"127.0.0.1:{sink_port}", "1000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bd.wait_port(sink_port)
        results = []
        if not args.skip_sqlite:
            results.append(run_zegel("sqlite", zegel, base, None, args.messages, args.sessions,
                                     sink_port, certs, args.timeout, client, args.warmup))
        if not args.skip_postgres:
            db = "zegel_bench_" + secrets.token_hex(4)
            bd.pg_admin(f"CREATE DATABASE {db}", args.pg_host, args.pg_user)
            url = f"postgres://{args.pg_user}@{args.pg_host}:{os.environ.get('PGPORT', '5432')}/{db}"
            results.append(run_zegel("postgres", zegel, base, url, args.messages,
                                     args.sessions, sink_port, certs, args.timeout, client,
                                     args.warmup))
    except (bd.BenchError, subprocess.CalledProcessError) as e:
        bd.log(f"ERROR: {e}")
        return 1
    finally:
        bd.clean_up(sink, db, args.pg_host, args.pg_user)
        shutil.rmtree(base, ignore_errors=True)
    pf = postfix["msgs_per_s"]
    print()
    print(f"CPUs: {os.cpu_count()}; load average before {bd.fmt_load(load_before)}, "
          f"after {bd.fmt_load(os.getloadavg())}")
    print(f"{'':42} msgs/s   ratio")
    print(f"{'Postfix smtp-source (10 KiB)':42} {pf:6.0f}    1.00   "
          f"({postfix['n']} msgs, -s {postfix['sessions']}, {postfix['secs']:.2f} s, "
          f"smtp-source CPU {postfix['client_cpu']:.2f} s)")
    ok = True
    for r in results:
        name = "SQLite" if r["label"] == "sqlite" else "PostgreSQL"
        print(f"{'Zegel ' + name + ' accepted (250)':42} {r['accepted_per_s']:6.0f}    "
              f"{r['accepted_per_s'] / pf:4.2f}")
        print(f"{'Zegel ' + name + ' end-to-end (notified)':42} {r['e2e_per_s']:6.0f}    "
              f"{r['e2e_per_s'] / pf:4.2f}")
        c = r["cpu"]
        print(f"{'':42} CPU s: zegel {c['zegel']:.2f}, client {c['client']:.2f}, "
              f"postgres {c['postgres']:.2f} ({(c['zegel'] + c['postgres']) / r['n'] * 1000:.2f} "
              f"ms per mail)")
        ok &= r["e2e_per_s"] >= pf
    print("PASS" if ok else "FAIL", "(goal: end-to-end at least Postfix's msgs/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
