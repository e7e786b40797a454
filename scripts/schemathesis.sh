#!/usr/bin/env bash
# API fuzzing: schemathesis (pinned, in a venv under $ZEGEL_TOOLS) against
# /api/v1/openapi.json of a running `zegel serve` (SQLite, dev outbox), with a real sender token
# and a real recipient session (link token from the notification e-mail, access token from the
# e-mail code). Fails on any 5xx and on any response the document does not describe.
#
# Bounded and repeatable: a fixed seed, a fixed number of examples per operation and a time
# budget (ZEGEL_SCHEMATHESIS_EXAMPLES, ZEGEL_SCHEMATHESIS_SECONDS). The binary is
# $CARGO_TARGET_DIR/debug/zegel (built when missing). Reports go to $ZEGEL_SCHEMATHESIS_REPORTS
# (default: a temp dir, printed at the end).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/tools.sh
. scripts/tools.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/zegel-target}"
BIN="${ZEGEL_SCHEMATHESIS_BIN:-$CARGO_TARGET_DIR/debug/zegel}"
EXAMPLES="${ZEGEL_SCHEMATHESIS_EXAMPLES:-100}"
SECONDS_BUDGET="${ZEGEL_SCHEMATHESIS_SECONDS:-240}"
SEED="${ZEGEL_SCHEMATHESIS_SEED:-20261205}"

if [ ! -x "$BIN" ]; then
    tools_log "building $BIN"
    cargo build -p zegel --bin zegel
fi
ST="$(schemathesis_bin)"
KEEP="${ZEGEL_SCHEMATHESIS_KEEP:-0}"
reports="${ZEGEL_SCHEMATHESIS_REPORTS:-}"
# Not for the server (it warns about every ZEGEL_* it does not know).
unset ZEGEL_SCHEMATHESIS_BIN ZEGEL_SCHEMATHESIS_EXAMPLES ZEGEL_SCHEMATHESIS_SECONDS \
    ZEGEL_SCHEMATHESIS_SEED ZEGEL_SCHEMATHESIS_REPORTS ZEGEL_SCHEMATHESIS_KEEP

work="$(mktemp -d)"
reports="${reports:-$work/reports}"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$KEEP" != 1 ]; then
        rm -rf "$work/data"
    fi
}
trap cleanup EXIT

export ZEGEL_DATA_DIR="$work/data"
export ZEGEL_LISTEN=127.0.0.1:0
# The fuzzer is one client making thousands of requests: the per-address limits would answer
# most of them with 429 (documented, but then the handlers behind them go untested).
export ZEGEL_RATE_LIMIT_PER_MINUTE=1000000
export ZEGEL_RATE_LIMIT_BURST=1000000
export ZEGEL_LOG="${ZEGEL_LOG:-warn}"
unset ZEGEL_DATABASE_URL ZEGEL_BLOB_URL ZEGEL_SMTP_URL ZEGEL_PUBLIC_URL

api_token="$("$BIN" admin token create --email afzender@zegel.example | tail -n 1)"
case "$api_token" in zgl_*) ;; *) echo "no API token from 'zegel admin token create'" >&2; exit 1 ;; esac

"$BIN" serve >"$work/serve.log" 2>&1 &
server_pid=$!
base=""
for _ in $(seq 1 150); do
    base="$(grep -o 'listening on http://[0-9.:]*' "$work/serve.log" | head -n 1 | sed 's/^listening on //' || true)"
    [ -n "$base" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.2
done
[ -n "$base" ] || { echo "zegel serve did not say where it listens" >&2; cat "$work/serve.log" >&2; exit 1; }
python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/readyz", timeout=10)' "$base"
tools_log "zegel serve at $base (data $ZEGEL_DATA_DIR)"

# A real message with an attachment to a recipient who verifies by e-mail, a real session for
# it, and a reply with an attachment (so the sender's inbox has something to read). Python's
# standard library reads the dev outbox (.eml files) and speaks HTTP.
st_env="$(python3 - "$base" "$api_token" "$ZEGEL_DATA_DIR/outbox/mail" <<'PY'
import email, email.policy, glob, json, os, re, shlex, sys, time, urllib.request, uuid

base, api_token, outbox = sys.argv[1], sys.argv[2], sys.argv[3]
recipient = "patient@zegel.example"

def call(method, path, body=None, token=None, content_type="application/json"):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read() or b"null")

def multipart(message, files):
    boundary = "zegel" + uuid.uuid4().hex
    out = b""
    parts = [("message", None, "application/json", json.dumps(message).encode())]
    parts += [("attachment", name, "application/pdf", data) for name, data in files]
    for name, filename, ctype, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\nContent-Type: {ctype}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, "multipart/form-data; boundary=" + boundary

def mail_text(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    texts = [p.get_content() for p in msg.walk() if p.get_content_type() == "text/plain"]
    return msg["To"] or "", "\n".join(texts)

def wait_for(pattern, after=()):
    for _ in range(300):
        for path in sorted(glob.glob(os.path.join(outbox, "*.eml"))):
            if path in after:
                continue
            to, text = mail_text(path)
            m = re.search(pattern, text)
            if recipient in to and m:
                return m.group(1), path
        time.sleep(0.1)
    sys.exit(f"no mail to {recipient} matching {pattern} in {outbox}")

body, ctype = multipart(
    {"subject": "Uitslag", "body": "Beste patiënt, zie de bijlage.", "reply": "unlimited",
     "recipients": [{"email": recipient, "verification": "email"}]},
    [("uitslag.pdf", b"%PDF-1.4 schemathesis\n")],
)
created = call("POST", "/api/v1/messages", body, api_token, ctype)
link, first = wait_for(r"/m/([A-Za-z0-9_-]{43})")
call("POST", f"/api/v1/access/{link}/challenge", {"method": "email"})
code, _ = wait_for(r"\b(\d{6})\b", after={first})
access = call("POST", f"/api/v1/access/{link}/verify", {"code": code})["access_token"]
message = call("GET", f"/api/v1/access/{link}/message", token=access)
body, ctype = multipart({"body": "Dank u, ontvangen."}, [("antwoord.pdf", b"%PDF-1.4 reply\n")])
call("POST", f"/api/v1/access/{link}/replies", body, access, ctype)
inbox = call("GET", "/api/v1/inbox", token=api_token)["items"]
reply = call("GET", f"/api/v1/inbox/{inbox[0]['id']}", token=api_token)
values = {
    "ZEGEL_ST_API_TOKEN": api_token,
    "ZEGEL_ST_LINK_TOKEN": link,
    "ZEGEL_ST_ACCESS_TOKEN": access,
    "ZEGEL_ST_MESSAGE_ID": created["id"],
    "ZEGEL_ST_ATTACHMENT_ID": message["attachments"][0]["id"],
    "ZEGEL_ST_REPLY_ID": inbox[0]["id"],
    "ZEGEL_ST_REPLY_ATTACHMENT_ID": reply["attachments"][0]["id"],
}
for k, v in values.items():
    print(f"export {k}={shlex.quote(v)}")
PY
)"
eval "$st_env"
tools_log "sender token, message $ZEGEL_ST_MESSAGE_ID, recipient session and a reply are ready"

mkdir -p "$reports"
tools_log "schemathesis $SCHEMATHESIS_VERSION: $EXAMPLES examples per operation, seed $SEED, at most ${SECONDS_BUDGET}s"
status=0
config="$PWD/tests/schemathesis/schemathesis.toml"
# From the temp dir: schemathesis and hypothesis keep state in the working directory.
(cd "$work" && timeout --signal=INT "$SECONDS_BUDGET" \
    "$ST" --config-file "$config" run "$base/api/v1/openapi.json" \
    --url "$base" \
    --seed "$SEED" \
    --max-examples "$EXAMPLES" \
    --report junit,ndjson --report-dir "$reports" \
    --no-color) || status=$?
if grep -q -E 'panicked|request failed' "$work/serve.log"; then
    echo "the server logged panics or internal errors during the run:" >&2
    grep -E 'panicked|request failed' "$work/serve.log" | head -n 20 >&2
    status=1
fi
tools_log "schemathesis reports in $reports"
exit "$status"
