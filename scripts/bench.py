#!/usr/bin/env python3
"""Zegel attachment throughput and memory benchmark.

Uploads one large random attachment through the sender API (`POST /api/v1/messages`,
multipart), reads it back through the recipient access API, and compares the upload with a
raw `dd ... conv=fdatasync` write to the same filesystem measured in the same run. Then the
recipient replies with the same file (`POST /api/v1/access/{token}/replies`, compared with the
sender's upload) and downloads the conversation as one `.eml` (`GET .../copy`: both files,
base64, compared with the attachment download). Records the server's idle and peak RSS.

Goals (from the issue): upload >= 0.7x the raw disk write; peak RSS < idle + 64 MiB;
download (decrypt) faster than the upload. Goal misses print FAIL but exit 0; the exit code
is 1 only when something is functionally wrong (hash mismatch, plaintext in the blob store,
an HTTP or process failure), 2 for bad arguments or too little disk space.

Python 3.11 standard library only; HTTP transfers use `curl` so that the bytes stream from
and to disk. Builds nothing: `scripts/bench.sh` runs `cargo build --release -p zegel` first.

This is a manual benchmark, never a test: no timings belong in the test suite.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import glob
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

MIB = 1024 * 1024
PIECE = 8 * MIB
# Stream format (crates/zegel-crypto/src/stream.rs): "ZGL1" + 7-byte nonce prefix, 64 KiB
# plaintext chunks, 16-byte tag per chunk, the last chunk always present.
STREAM_HEADER = 11
STREAM_CHUNK = 65536
STREAM_TAG = 16
CODE = "123456"
LINK_RE = re.compile(r"/m/([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])")


class BenchError(Exception):
    """A functional failure: the benchmark result would be meaningless."""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def ciphertext_len(n: int) -> int:
    chunks = max(1, math.ceil(n / STREAM_CHUNK))
    return STREAM_HEADER + n + chunks * STREAM_TAG


def mb_s(nbytes: int, secs: float) -> float:
    """Decimal megabytes per second (10^6 bytes/s), as dd prints."""
    return nbytes / secs / 1e6 if secs > 0 else float("inf")


# --------------------------------------------------------------------------- /proc helpers


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM in bytes."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def proc_cpu_secs(pid: int) -> float:
    """utime + stime of the process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples VmRSS of a process every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid = pid
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(proc_status(self.pid)["VmRSS"])
            except (OSError, KeyError, ValueError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


# --------------------------------------------------------------------------- server


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(f"zegel serve exited with status {self.proc.returncode}")


def zegel_env(data_dir: str, max_upload: int) -> dict[str, str]:
    # A clean ZEGEL_* environment: the caller's configuration (e.g. a PostgreSQL URL or a
    # relay) must not leak into the benchmark.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEGEL_")}
    env.update(
        ZEGEL_DATA_DIR=data_dir,
        ZEGEL_LISTEN="127.0.0.1:0",
        ZEGEL_MAX_UPLOAD_BYTES=str(max_upload),
    )
    env.setdefault("RUST_LOG", "info")
    return env


def create_token(zegel: str, env: dict[str, str]) -> str:
    r = subprocess.run(
        [zegel, "admin", "token", "create", "--email", "bench@example.nl"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        raise BenchError(f"token create failed ({r.returncode}): {r.stderr.strip()}")
    token = r.stdout.strip()
    if not token.startswith("zgl_"):
        raise BenchError(f"token create printed something unexpected: {token[:20]!r}")
    return token


def start_server(zegel: str, env: dict[str, str], log_path: str) -> Server:
    log_file = open(log_path, "wb")
    proc = subprocess.Popen(
        [zegel, "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
    )
    log_file.close()
    srv = Server(proc=proc, url="")
    found = threading.Event()

    def drain() -> None:
        # Keep reading stdout for the whole run so the pipe never fills up.
        assert proc.stdout is not None
        for line in proc.stdout:
            srv.stdout_lines.append(line.rstrip("\n"))
            m = re.search(r"listening on (http://\S+)", line)
            if m and not found.is_set():
                srv.url = m.group(1).rstrip("/")
                found.set()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 60
    while not found.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(srv)
            raise BenchError(
                "zegel serve did not print `listening on http://...`; log tail:\n"
                + tail(log_path)
            )
    return srv


def stop_server(srv: Server) -> None:
    if srv.proc.poll() is None:
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait()


def tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- HTTP (small)


def http_json(method: str, url: str, body: object | None = None, bearer: str | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if bearer:
        req.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        detail = e.read()[:500].decode(errors="replace")
        raise BenchError(f"{method} {url.split('/api/')[-1]} -> {e.code}: {detail}") from None


def curl(args: list[str]) -> tuple[float, dict[str, str], str]:
    """Runs curl; returns (wall seconds, -w fields, stdout body)."""
    marker = "\n__BENCH__"
    wfmt = marker + "%{http_code} %{size_upload} %{size_download} %{time_starttransfer} %{time_total}"
    t0 = time.perf_counter()
    r = subprocess.run(
        ["curl", "-sS", "-f", "--no-buffer", "-w", wfmt, *args],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    body, _, w = r.stdout.rpartition(marker.lstrip("\n"))
    if r.returncode != 0:
        raise BenchError(f"curl failed ({r.returncode}): {r.stderr.strip()} {body[:300]}")
    keys = ["http_code", "size_upload", "size_download", "time_starttransfer", "time_total"]
    return wall, dict(zip(keys, w.split())), body.rstrip("\n")


# --------------------------------------------------------------------------- steps


def make_input(path: str, size: int) -> str:
    h = hashlib.sha256()
    left = size
    with open(path, "wb") as f:
        while left:
            piece = os.urandom(min(PIECE, left))
            h.update(piece)
            f.write(piece)
            left -= len(piece)
        f.flush()
        # Flush it to disk now, so its writeback does not overlap the dd and upload timings.
        # It stays in the page cache: dd and the upload both read it from memory.
        os.fsync(f.fileno())
    return h.hexdigest()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(PIECE):
            h.update(piece)
    return h.hexdigest()


def run_dd(src: str, dst: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(
        ["dd", f"if={src}", f"of={dst}", "bs=1M", "conv=fdatasync"],
        capture_output=True,
        text=True,
    )
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        raise BenchError(f"dd failed: {r.stderr.strip()}")
    return secs


def wait_for_link(outbox: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(glob.glob(os.path.join(outbox, "*.eml"))):
            token = link_token_of(path)
            if token:
                return token
        time.sleep(0.2)
    raise BenchError(f"no notification with a /m/<token> link in {outbox} after {timeout:.0f} s")


def link_token_of(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # Decoded text parts first (quoted-printable or base64), then the raw file.
    texts: list[str] = []
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                texts.append(part.get_content())
    except Exception:  # noqa: BLE001 - a half-written file; try the raw text
        pass
    texts.append(raw.decode("utf-8", errors="replace").replace("=\r\n", "").replace("=\n", ""))
    for t in texts:
        m = LINK_RE.search(t)
        if m:
            return m.group(1)
    return None


def find_blob(blob_root: str) -> str:
    files = []
    for dirpath, _, names in os.walk(os.path.join(blob_root, "att")):
        files += [os.path.join(dirpath, n) for n in names]
    if not files:
        raise BenchError(f"no attachment blob under {blob_root}/att")
    return max(files, key=os.path.getsize)


# --------------------------------------------------------------------------- main


def sign_in(zegel: str, env: dict[str, str], url: str, jar: str) -> None:
    """Gives the bench sender a password (`zegel admin user password`, standard input) and
    signs in at /inloggen like a browser without JavaScript (CSRF cookie and field); the
    session cookie lands in the curl cookie `jar`."""
    password = "bench-" + os.urandom(12).hex() + "-Zegel"
    r = subprocess.run(
        [zegel, "admin", "user", "password", "--email", "bench@example.nl"],
        input=password + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        raise BenchError(f"admin user password failed ({r.returncode}): {r.stderr.strip()}")
    page = subprocess.run(
        ["curl", "-sS", "-f", "-c", jar, "-b", jar, url + "/inloggen"],
        capture_output=True, text=True, timeout=60,
    ).stdout
    csrf = form_csrf(page, "/inloggen")
    r = subprocess.run(
        [
            "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
            "-c", jar, "-b", jar,
            "--data-urlencode", f"csrf={csrf}",
            "--data-urlencode", "email=bench@example.nl",
            "--data-urlencode", f"password={password}",
            url + "/inloggen",
        ],
        capture_output=True, text=True, timeout=60,
    )
    if not r.stdout.startswith("303 ") or "/inloggen" in r.stdout:
        raise BenchError(f"sign-in did not end signed in: {r.stdout} {r.stderr.strip()}")


def form_csrf(page: str, what: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    if not m:
        raise BenchError(f"no CSRF field on {what}")
    return m.group(1)


def compose_upload(url: str, jar: str, input_path: str) -> tuple[float, dict[str, str]]:
    """POSTs the compose form of /berichten/nieuw (multipart, fields first, then the file)
    as a browser without JavaScript would; a known address, so it is sent at once (303 to
    the message's page). Returns curl's wall time and its -w fields."""
    page = subprocess.run(
        ["curl", "-sS", "-f", "-b", jar, url + "/berichten/nieuw"],
        capture_output=True, text=True, timeout=60,
    ).stdout
    csrf = form_csrf(page, "/berichten/nieuw")
    marker = "\n__BENCH__"
    wfmt = marker + "%{http_code} %{redirect_url} %{time_total}"
    t0 = time.perf_counter()
    r = subprocess.run(
        [
            "curl", "-sS", "--no-buffer", "-w", wfmt, "-b", jar,
            "-F", f"csrf={csrf}",
            "-F", "email_0=p@example.nl",
            "-F", "method_0=code",
            "-F", f"code_0={CODE}",
            "-F", "subject=bench compose",
            "-F", "body=b",
            "-F", "reply=unlimited",
            "-F", "days=7",
            "-F", f"attachment=@{input_path};type=application/octet-stream",
            url + "/berichten/nieuw",
        ],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - t0
    body, _, w = r.stdout.rpartition(marker.lstrip("\n"))
    fields = dict(zip(["http_code", "redirect_url", "time_total"], w.split()))
    if r.returncode != 0 or fields.get("http_code") != "303" or "/berichten/" not in fields.get("redirect_url", ""):
        raise BenchError(f"the compose form did not send: {w} {r.stderr.strip()} {body[:300]}")
    return wall, fields


def run(args: argparse.Namespace) -> int:
    size = args.size_mib * MIB
    zegel = os.path.abspath(args.zegel)
    if not os.access(zegel, os.X_OK):
        log(f"{zegel} is not an executable; build it first (scripts/bench.sh does)")
        return 2
    for tool in ("curl", "dd"):
        if shutil.which(tool) is None:
            log(f"`{tool}` is needed but not on PATH")
            return 2
    base = os.path.abspath(args.dir)
    os.makedirs(base, exist_ok=True)
    free = shutil.disk_usage(base).free
    # input + dd copy + three encrypted blobs (API, reply, compose form) + download + the .eml
    # (two files in base64).
    need = 9 * size
    if free < need:
        log(
            f"refusing to run: {free / MIB:.0f} MiB free under {base}, need at least "
            f"{need / MIB:.0f} MiB (9x the {args.size_mib} MiB size). Use --dir or --size-mib."
        )
        return 2

    tmp = tempfile.mkdtemp(prefix="zegel-bench-", dir=base)
    data_dir = os.path.join(tmp, "data")
    input_path = os.path.join(tmp, "input.bin")
    dd_path = os.path.join(tmp, "dd.out")
    dl_path = os.path.join(tmp, "download.out")
    srv: Server | None = None
    res: dict[str, object] = {
        "size_bytes": size,
        "size_mib": args.size_mib,
        "dir": tmp,
        "zegel": zegel,
        # Other work on the machine (a cargo build, say) skews every figure: check this.
        "loadavg_at_start": list(os.getloadavg()),
        "cpus": os.cpu_count(),
    }
    try:
        log(f"working in {tmp}")
        log(f"writing {args.size_mib} MiB of random input")
        t0 = time.perf_counter()
        input_sha = make_input(input_path, size)
        log(f"  input ready in {time.perf_counter() - t0:.1f} s")

        # Baseline: raw write of the same bytes to the same filesystem, flushed to disk.
        log("dd baseline (bs=1M conv=fdatasync)")
        dd_secs = run_dd(input_path, dd_path)
        os.remove(dd_path)
        res["dd"] = {"seconds": dd_secs, "mb_s": mb_s(size, dd_secs)}

        env = zegel_env(data_dir, size + 16 * MIB)
        token = create_token(zegel, env)
        srv = start_server(zegel, env, os.path.join(tmp, "server.log"))
        log(f"zegel serve pid {srv.pid} at {srv.url}")
        urllib.request.urlopen(srv.url + "/healthz", timeout=10).read()
        time.sleep(1.0)
        idle = proc_status(srv.pid)["VmRSS"]
        res["rss_idle_bytes"] = idle

        # Upload.
        log("upload")
        msg = json.dumps(
            {
                "subject": "bench",
                "body": "b",
                "recipients": [{"email": "p@example.nl", "verification": "code", "code": CODE}],
                "reply": "unlimited",
            }
        )
        cpu0 = proc_cpu_secs(srv.pid)
        with RssSampler(srv.pid) as up_rss:
            up_secs, up_w, up_body = curl(
                [
                    "-H", f"Authorization: Bearer {token}",
                    "-F", f"message={msg};type=application/json",
                    "-F", f"attachment=@{input_path};type=application/octet-stream",
                    srv.url + "/api/v1/messages",
                ]
            )
        up_cpu = proc_cpu_secs(srv.pid) - cpu0
        srv.check_alive()
        created = json.loads(up_body)
        res["upload"] = {
            "seconds": up_secs,
            "mb_s": mb_s(size, up_secs),
            "ratio_to_dd": dd_secs / up_secs,
            "server_cpu_seconds": up_cpu,
            "curl_time_total": float(up_w.get("time_total", "nan")),
            "curl_time_starttransfer": float(up_w.get("time_starttransfer", "nan")),
            "rss_peak_sampled_bytes": up_rss.peak,
            "rss_samples": len(up_rss.samples),
            "message_id": created.get("id"),
        }

        # Stored blob: ciphertext only, of the expected length.
        blob = find_blob(os.path.join(data_dir, "blobs"))
        with open(blob, "rb") as b, open(input_path, "rb") as i:
            blob_head, input_head = b.read(MIB), i.read(MIB)
        blob_size = os.path.getsize(blob)
        res["blob"] = {
            "size_bytes": blob_size,
            "expected_size_bytes": ciphertext_len(size),
            "size_matches": blob_size == ciphertext_len(size),
            "first_mib_differs_from_input": blob_head != input_head,
            "contains_input_prefix": input_head[:4096] in blob_head,
        }
        if blob_head == input_head or input_head[:4096] in blob_head:
            raise BenchError(f"the blob {blob} holds plaintext")

        # Recipient access: link from the dev outbox, code, session, attachment id.
        link = wait_for_link(os.path.join(data_dir, "outbox", "mail"))
        access = http_json("POST", f"{srv.url}/api/v1/access/{link}/verify", {"code": CODE})
        at = access["access_token"]
        m = http_json("GET", f"{srv.url}/api/v1/access/{link}/message", bearer=at)
        att = m["attachments"][0]
        if int(att["size"]) != size:
            raise BenchError(f"attachment size {att['size']} != {size}")

        log("download")
        cpu0 = proc_cpu_secs(srv.pid)
        with RssSampler(srv.pid) as down_rss:
            dl_secs, dl_w, _ = curl(
                [
                    "-H", f"Authorization: Bearer {at}",
                    "-o", dl_path,
                    f"{srv.url}/api/v1/access/{link}/attachments/{att['id']}",
                ]
            )
        dl_cpu = proc_cpu_secs(srv.pid) - cpu0
        srv.check_alive()
        # curl does not fsync; the time to flush the download is reported on its own.
        t0 = time.perf_counter()
        fd = os.open(dl_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        dl_fsync = time.perf_counter() - t0
        hwm = proc_status(srv.pid)["VmHWM"]
        res["download"] = {
            "seconds": dl_secs,
            "mb_s": mb_s(size, dl_secs),
            "ratio_to_upload": up_secs / dl_secs,
            "server_cpu_seconds": dl_cpu,
            "curl_time_starttransfer": float(dl_w.get("time_starttransfer", "nan")),
            "fsync_after_seconds": dl_fsync,
            "rss_peak_sampled_bytes": down_rss.peak,
            "rss_samples": len(down_rss.samples),
        }
        peak = max(up_rss.peak, down_rss.peak, hwm)
        res["rss_hwm_bytes"] = hwm
        res["rss_peak_bytes"] = peak
        res["rss_peak_over_idle_bytes"] = peak - idle

        dl_sha = sha256_file(dl_path)
        res["sha256_input"] = input_sha
        res["sha256_download"] = dl_sha
        if dl_sha != input_sha:
            raise BenchError("the downloaded file differs from the input (sha256 mismatch)")

        os.remove(dl_path)

        # The recipient's reply with the same file: the same streaming path as the upload.
        log("reply upload")
        cpu0 = proc_cpu_secs(srv.pid)
        with RssSampler(srv.pid) as rp_rss:
            rp_secs, _, rp_body = curl(
                [
                    "-H", f"Authorization: Bearer {at}",
                    "-F", 'message={"body":"b"};type=application/json',
                    "-F", f"attachment=@{input_path};type=application/octet-stream",
                    f"{srv.url}/api/v1/access/{link}/replies",
                ]
            )
        rp_cpu = proc_cpu_secs(srv.pid) - cpu0
        srv.check_alive()
        if json.loads(rp_body).get("attachment_count") != 1:
            raise BenchError(f"unexpected reply answer: {rp_body[:200]}")
        res["reply_upload"] = {
            "seconds": rp_secs,
            "mb_s": mb_s(size, rp_secs),
            "ratio_to_upload": up_secs / rp_secs,
            "server_cpu_seconds": rp_cpu,
            "rss_peak_sampled_bytes": rp_rss.peak,
        }

        # The own copy: the conversation as one .eml holding both files in base64.
        log("own copy (.eml)")
        eml_path = os.path.join(tmp, "copy.eml")
        cpu0 = proc_cpu_secs(srv.pid)
        with RssSampler(srv.pid) as ex_rss:
            ex_secs, _, _ = curl(
                ["-H", f"Authorization: Bearer {at}", "-o", eml_path, f"{srv.url}/api/v1/access/{link}/copy"]
            )
        ex_cpu = proc_cpu_secs(srv.pid) - cpu0
        srv.check_alive()
        eml_size = os.path.getsize(eml_path)
        os.remove(eml_path)
        # Base64 in 76-character CRLF lines: 78 bytes per 57 input bytes.
        if eml_size < 2 * size * 78 // 57:
            raise BenchError(f"the .eml is {eml_size} bytes, too small to hold both files")
        res["export"] = {
            "seconds": ex_secs,
            "eml_bytes": eml_size,
            # Attachment bytes delivered per second (2 files), against the plain download.
            "mb_s": mb_s(2 * size, ex_secs),
            "ratio_to_download": (2 * size / ex_secs) / (size / dl_secs),
            "server_cpu_seconds": ex_cpu,
            "rss_peak_sampled_bytes": ex_rss.peak,
        }
        # The same file through the web app's compose form (signed in, no JavaScript).
        log("compose form upload (/berichten/nieuw)")
        jar = os.path.join(tmp, "cookies.txt")
        sign_in(zegel, env, srv.url, jar)
        cpu0 = proc_cpu_secs(srv.pid)
        with RssSampler(srv.pid) as cf_rss:
            cf_secs, cf_w = compose_upload(srv.url, jar, input_path)
        cf_cpu = proc_cpu_secs(srv.pid) - cpu0
        srv.check_alive()
        res["compose_upload"] = {
            "seconds": cf_secs,
            "mb_s": mb_s(size, cf_secs),
            "ratio_to_dd": dd_secs / cf_secs,
            "ratio_to_api_upload": up_secs / cf_secs,
            "server_cpu_seconds": cf_cpu,
            "rss_peak_sampled_bytes": cf_rss.peak,
            "message_page": cf_w.get("redirect_url", ""),
        }
        peak = max(peak, rp_rss.peak, ex_rss.peak, cf_rss.peak, proc_status(srv.pid)["VmHWM"])
        res["rss_peak_bytes"] = peak
        res["rss_peak_over_idle_bytes"] = peak - idle

        res["goals"] = {
            "upload_ge_0.7x_dd": dd_secs / up_secs >= 0.7,
            "peak_rss_lt_idle_plus_64mib": peak - idle < 64 * MIB,
            "download_faster_than_upload": dl_secs < up_secs,
        }
        report(res)
        return 0
    except BenchError as e:
        log(f"FAILED: {e}")
        if srv is not None:
            log("server log tail:\n" + tail(os.path.join(tmp, "server.log")))
        return 1
    finally:
        if srv is not None:
            stop_server(srv)
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(res, f, indent=2)
                f.write("\n")


def report(r: dict) -> None:
    size_mib = r["size_mib"]
    dd, up, dl = r["dd"], r["upload"], r["download"]
    mib = lambda b: b / MIB  # noqa: E731
    rows = [
        ("size", f"{size_mib} MiB"),
        ("load average at start", " ".join(f"{x:.2f}" for x in r["loadavg_at_start"]) + f"  ({r['cpus']} CPUs)"),
        ("dd write (conv=fdatasync)", f"{dd['mb_s']:8.1f} MB/s  ({dd['seconds']:.2f} s)"),
        ("upload (encrypt + fsync)", f"{up['mb_s']:8.1f} MB/s  ({up['seconds']:.2f} s, server CPU {up['server_cpu_seconds']:.2f} s)"),
        ("  upload / dd", f"{up['ratio_to_dd']:8.2f} x"),
        ("download (decrypt)", f"{dl['mb_s']:8.1f} MB/s  ({dl['seconds']:.2f} s, server CPU {dl['server_cpu_seconds']:.2f} s)"),
        ("  download / upload", f"{dl['ratio_to_upload']:8.2f} x"),
        ("  fsync of download after", f"{dl['fsync_after_seconds']:8.2f} s"),
        ("reply upload (encrypt + fsync)", f"{r['reply_upload']['mb_s']:8.1f} MB/s  ({r['reply_upload']['seconds']:.2f} s, server CPU {r['reply_upload']['server_cpu_seconds']:.2f} s)"),
        ("  reply / upload", f"{r['reply_upload']['ratio_to_upload']:8.2f} x"),
        (".eml copy (2 files, base64)", f"{r['export']['mb_s']:8.1f} MB/s of attachments  ({r['export']['seconds']:.2f} s, server CPU {r['export']['server_cpu_seconds']:.2f} s)"),
        ("  .eml / download", f"{r['export']['ratio_to_download']:8.2f} x"),
        ("compose form upload", f"{r['compose_upload']['mb_s']:8.1f} MB/s  ({r['compose_upload']['seconds']:.2f} s, server CPU {r['compose_upload']['server_cpu_seconds']:.2f} s)"),
        ("  compose form / dd", f"{r['compose_upload']['ratio_to_dd']:8.2f} x"),
        ("  compose form / API upload", f"{r['compose_upload']['ratio_to_api_upload']:8.2f} x"),
        ("idle RSS", f"{mib(r['rss_idle_bytes']):8.1f} MiB"),
        ("peak RSS upload (sampled)", f"{mib(up['rss_peak_sampled_bytes']):8.1f} MiB"),
        ("peak RSS download (sampled)", f"{mib(dl['rss_peak_sampled_bytes']):8.1f} MiB"),
        ("VmHWM at end", f"{mib(r['rss_hwm_bytes']):8.1f} MiB"),
        ("peak RSS", f"{mib(r['rss_peak_bytes']):8.1f} MiB"),
        ("  peak - idle", f"{mib(r['rss_peak_over_idle_bytes']):8.1f} MiB"),
        ("blob size / expected", f"{r['blob']['size_bytes']} / {r['blob']['expected_size_bytes']} ({'ok' if r['blob']['size_matches'] else 'MISMATCH'})"),
        ("blob first MiB != input", "yes" if r["blob"]["first_mib_differs_from_input"] else "NO"),
        ("sha256 download == input", "yes" if r["sha256_download"] == r["sha256_input"] else "NO"),
    ]
    w = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    print()
    g = r["goals"]
    print(f"{'PASS' if g['upload_ge_0.7x_dd'] else 'FAIL'}  upload >= 0.7x dd ({up['ratio_to_dd']:.2f}x)")
    print(
        f"{'PASS' if g['peak_rss_lt_idle_plus_64mib'] else 'FAIL'}  peak RSS < idle + 64 MiB "
        f"(+{mib(r['rss_peak_over_idle_bytes']):.1f} MiB)"
    )
    print(
        f"{'PASS' if g['download_faster_than_upload'] else 'FAIL'}  download faster than upload "
        f"({dl['ratio_to_upload']:.2f}x)"
    )
    print()
    print(json.dumps(r, indent=2))
    sys.stdout.flush()


def main() -> int:
    default_target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target"
    )
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=1024, help="attachment size (default 1024)")
    p.add_argument(
        "--zegel",
        default=os.path.join(default_target, "release", "zegel"),
        help="the zegel binary (default $CARGO_TARGET_DIR/release/zegel)",
    )
    p.add_argument(
        "--dir",
        default=tempfile.gettempdir(),
        help="where the temporary directory goes; dd, the data dir and the download all "
        "land on this filesystem (default: the system temp dir)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args()
    if args.size_mib < 1:
        p.error("--size-mib must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
