#!/usr/bin/env python3
"""Zegel sent-list benchmark: the sender web app's `/berichten` page 1 with 10,000 messages.

Seeds an organisation with `--messages` messages of one sender (through `POST
/api/v1/messages`, several at a time; each message has two recipients, so the list is filtered
over twice as many recipient rows), makes one sender session straight in the SQLite database
(a `sender_sessions` row holding the SHA-256 of a random cookie value, as the server's own
sign-in does), and then times, in the same run and interleaved round by round:

- `GET /healthz`: the baseline round trip (no database);
- `GET /api/v1/messages?limit=25`: the API's sent list, page 1 (the same two statements);
- `GET /berichten`: the web app's sent list page 1 (25 messages, HTML);
- `GET /berichten?status=failed`: filtered by a status no recipient has (the worst case:
  nothing matches, the whole organisation is looked at through the index);
- `GET /berichten?ontvanger=<one address>`: filtered by one recipient's address;
- `GET /berichten?na=<cursor>`: page 2 (keyset).

Times are wall clock on the client over loopback (HTTP/1.1 keep-alive), median and p95 of
`--rounds` requests each, after `--warmup` unmeasured rounds. The server's own per-request
`ms=` log field is also summarised for `/berichten`. Python 3.11 standard library only.

A manual benchmark, never a test: no timings belong in the test suite.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlparse


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def default_binary() -> str:
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    for profile in ("release", "debug"):
        p = os.path.join(target, profile, "zegel")
        if os.path.exists(p):
            return p
    return os.path.join(target, "release", "zegel")


class Server:
    def __init__(self, zegel: str, env: dict[str, str], log_path: str):
        self.log_path = log_path
        log_file = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [zegel, "serve"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=log_file, text=True,
        )
        log_file.close()
        self.url = ""
        found = threading.Event()

        def drain() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                m = re.search(r"listening on (http://\S+)", line)
                if m and not found.is_set():
                    self.url = m.group(1).rstrip("/")
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(60):
            self.stop()
            raise SystemExit("zegel serve did not print `listening on http://...`")
        u = urlparse(self.url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80

    def conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def send_batch(srv: Server, token: str, start: int, count: int) -> None:
    c = srv.conn()
    for i in range(start, start + count):
        body = json.dumps({
            "subject": f"Uitslag {i}",
            "body": "De uitslag is goed.",
            "recipients": [
                {"email": f"patient{i}@example.nl", "verification": "email"},
                {"email": f"naaste{i % 500}@example.nl", "verification": "email"},
            ],
        })
        c.request("POST", "/api/v1/messages", body=body,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            raise SystemExit(f"POST /api/v1/messages: {r.status}")
    c.close()


def timed(c: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> tuple[float, bytes]:
    t = time.perf_counter()
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read()
    dt = time.perf_counter() - t
    if r.status != 200:
        raise SystemExit(f"GET {path}: {r.status}")
    return dt, body


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zegel", default=default_binary())
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if not os.path.exists(args.zegel):
        log(f"no binary at {args.zegel}")
        return 2
    tmp = tempfile.mkdtemp(prefix="zegel-bench-sent-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEGEL_")}
    env.update(ZEGEL_DATA_DIR=os.path.join(tmp, "data"), ZEGEL_LISTEN="127.0.0.1:0",
               ZEGEL_PUBLIC_URL="http://127.0.0.1:1")
    env.setdefault("RUST_LOG", "info")
    srv = None
    try:
        r = subprocess.run([args.zegel, "admin", "token", "create", "--email", "bench@example.nl"],
                           env=env, capture_output=True, text=True, timeout=120)
        token = r.stdout.strip()
        if r.returncode != 0 or not token.startswith("zgl_"):
            raise SystemExit(f"token create failed: {r.stderr.strip()}")
        srv = Server(args.zegel, env, os.path.join(tmp, "server.log"))
        log(f"seeding {args.messages} messages ({args.parallel} at a time) on {srv.url}")
        t0 = time.monotonic()
        per = (args.messages + args.parallel - 1) // args.parallel
        with concurrent.futures.ThreadPoolExecutor(args.parallel) as ex:
            futs = [ex.submit(send_batch, srv, token, k * per, min(per, args.messages - k * per))
                    for k in range(args.parallel) if k * per < args.messages]
            for f in futs:
                f.result()
        log(f"seeded in {time.monotonic() - t0:.1f} s; waiting for the notification jobs")
        db = os.path.join(tmp, "data", "zegel.db")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with sqlite3.connect(db, timeout=30) as c:
                (left,) = c.execute("SELECT COUNT(*) FROM jobs").fetchone()
            if left == 0:
                break
            time.sleep(1)
        # One sender session (as sign-in makes it).
        cookie = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        now = int(time.time() * 1000)
        with sqlite3.connect(db, timeout=30) as c:
            (uid,) = c.execute("SELECT id FROM users WHERE email = ?", ("bench@example.nl",)).fetchone()
            c.execute("INSERT INTO sender_sessions (token_hash, user_id, created_at, last_seen_at) "
                      "VALUES (?, ?, ?, ?)", (hashlib.sha256(cookie.encode()).digest(), uid, now, now))
            (n_messages,) = c.execute("SELECT COUNT(*) FROM messages").fetchone()
            (n_recipients,) = c.execute("SELECT COUNT(*) FROM recipients").fetchone()
        page = {"Cookie": f"zegel_sender={cookie}"}
        api = {"Authorization": f"Bearer {token}"}
        c = srv.conn()
        _, first = timed(c, "/berichten", page)
        m = re.search(rb'href="(/berichten\?na=[^"]+)"', first)
        if not m:
            raise SystemExit("page 1 has no Volgende link")
        page2 = m.group(1).decode().replace("&amp;", "&")
        cases = [
            ("GET /healthz (baseline)", "/healthz", {}),
            ("GET /api/v1/messages?limit=25", "/api/v1/messages?limit=25", api),
            ("GET /berichten (page 1)", "/berichten", page),
            ("GET /berichten?na=... (page 2)", page2, page),
            ("GET /berichten?status=failed (no match)", "/berichten?status=failed", page),
            ("GET /berichten?status=notified", "/berichten?status=notified", page),
            ("GET /berichten?ontvanger=... (one address)", "/berichten?ontvanger=patient4321%40example.nl", page),
        ]
        times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        for rnd in range(args.warmup + args.rounds):
            for name, path, headers in cases:
                dt, _ = timed(c, path, headers)
                if rnd >= args.warmup:
                    times[name].append(dt * 1000)
        c.close()
        base = statistics.median(times[cases[0][0]])
        results = []
        print(f"\n{n_messages} messages, {n_recipients} recipients, one sender; "
              f"{args.rounds} rounds after {args.warmup} warm-up; binary {args.zegel}\n")
        print(f"{'request':48} {'median ms':>10} {'p95 ms':>8} {'x baseline':>11}")
        for name, _, _ in cases:
            ts = sorted(times[name])
            med = statistics.median(ts)
            p95 = ts[int(0.95 * (len(ts) - 1))]
            results.append({"request": name, "median_ms": round(med, 3), "p95_ms": round(p95, 3),
                            "x_baseline": round(med / base, 1)})
            print(f"{name:48} {med:10.2f} {p95:8.2f} {med / base:11.1f}")
        server_ms = []
        with open(os.path.join(tmp, "server.log"), errors="replace") as f:
            for line in f:
                if 'route=/berichten ' in line and "ms=" in line:
                    mm = re.search(r"ms=(\d+)", line)
                    if mm:
                        server_ms.append(int(mm.group(1)))
        if server_ms:
            print(f"\nserver log, route /berichten (all variants): median {statistics.median(server_ms)} ms, "
                  f"max {max(server_ms)} ms over {len(server_ms)} requests (whole milliseconds)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"messages": n_messages, "recipients": n_recipients, "results": results}, f, indent=2)
        return 0
    finally:
        if srv:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
