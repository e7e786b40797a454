#!/usr/bin/env bash
# Real-browser tests of the patient flow (tests/browser): Debian's chromium through playwright-core,
# axe-core for accessibility, against the real `zegel serve` on SQLite and on PostgreSQL.
# scripts/test.sh runs this after the Rust tests; it also runs on its own:
#
#   scripts/browser-test.sh
#
# Installs what it needs when missing (Debian chromium, the npm packages of tests/browser), builds
# the binary once (same CARGO_TARGET_DIR as scripts/test.sh), creates a fresh PostgreSQL database
# and drops it afterwards. Screenshots and the axe/layout summaries go outside the repository:
# ZEGEL_BROWSER_ARTIFACTS (default: ${TMPDIR:-/tmp}/zegel-browser-<timestamp>).
#
#   ZEGEL_BROWSER_BACKENDS="sqlite"   only one backend (default: "sqlite postgres")
#   ZEGEL_BROWSER_BIN=path            test this zegel binary instead of building one
#   ZEGEL_BROWSER_TESTS="a.test.js"   which test files (default: patient-flow.test.js sender-tracking.test.js)
#   ZEGEL_BROWSER_PG_ADMIN_URL        where to create the database (default: ZEGEL_TEST_POSTGRES_URL
#                                     as scripts/test.sh sets it, else postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

export DEBIAN_FRONTEND=noninteractive
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/zegel-target}"
CHROMIUM=/usr/bin/chromium
BACKENDS="${ZEGEL_BROWSER_BACKENDS:-sqlite postgres}"
PG_ADMIN_URL="${ZEGEL_BROWSER_PG_ADMIN_URL:-${ZEGEL_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
ARTIFACTS="${ZEGEL_BROWSER_ARTIFACTS:-${TMPDIR:-/tmp}/zegel-browser-$(date +%Y%m%d-%H%M%S)}"

log() { printf '==> %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

started=$SECONDS

# --- What the browser tests need ------------------------------------------------------------------

if [ ! -x "$CHROMIUM" ]; then
    log "apt-get install chromium"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
    [ -x "$CHROMIUM" ] || { echo "$CHROMIUM is still missing after installing chromium" >&2; exit 1; }
fi

command -v node >/dev/null 2>&1 || { echo "the browser tests need Node.js 20 or later (node not found)" >&2; exit 1; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    echo "the browser tests need Node.js 20 or later (found $(node --version))" >&2
    exit 1
fi

# npm ci when node_modules is missing or older than the lock file (npm writes its own copy of the
# lock into node_modules/.package-lock.json; they differ when the lock file changed).
browser_dir="$ROOT/tests/browser"
if [ ! -f "$browser_dir/node_modules/.package-lock.json" ] \
    || [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules/.package-lock.json" ] \
    || ! node -e '
        const lock = require(process.argv[1]);
        for (const [p, v] of Object.entries(lock.packages)) {
            if (!p) continue;
            const got = require(require("path").join(process.argv[2], p, "package.json")).version;
            if (got !== v.version) process.exit(1);
        }' "$browser_dir/package-lock.json" "$browser_dir" 2>/dev/null; then
    log "npm ci (tests/browser)"
    (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

# PostgreSQL: scripts/test.sh brought the server up; on our own, say so instead of guessing.
if [[ " $BACKENDS " == *" postgres "* ]]; then
    command -v psql >/dev/null 2>&1 || { echo "the PostgreSQL run needs psql (apt-get install postgresql-client)" >&2; exit 1; }
    psql "$PG_ADMIN_URL" -qAtc 'SELECT 1' >/dev/null \
        || { echo "PostgreSQL is not reachable at $PG_ADMIN_URL (scripts/test.sh starts it)" >&2; exit 1; }
fi

# --- The binary ---------------------------------------------------------------------------------

if [ -n "${ZEGEL_BROWSER_BIN:-}" ]; then
    BIN="$ZEGEL_BROWSER_BIN"
    log "using the binary $BIN (ZEGEL_BROWSER_BIN; not building)"
else
    log "cargo build -p zegel (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    cargo build -q -p zegel
    BIN="$CARGO_TARGET_DIR/debug/zegel"
fi
[ -x "$BIN" ] || { echo "no zegel binary at $BIN" >&2; exit 1; }

# --- A fresh PostgreSQL database per test file, dropped afterwards ------------------------------

pg_dbs=()
cleanup() {
    local db
    for db in "${pg_dbs[@]}"; do
        psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
            || echo "warning: could not drop the database $db" >&2
    done
}
trap cleanup EXIT

# Sets pg_url to a new database (a function, not a subshell: pg_dbs must remember it). Each test
# file starts its own servers, each with its own master key: each needs its own database.
new_pg_url() {
    local db="zegel_browser_$(date +%s)_$RANDOM$RANDOM"
    psql "$PG_ADMIN_URL" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $db" >/dev/null
    pg_dbs+=("$db")
    # The same server and credentials as the admin URL, another database.
    pg_url="${PG_ADMIN_URL%/*}/$db"
}

# --- The tests ----------------------------------------------------------------------------------

mkdir -p "$ARTIFACTS"
log "browser tests ($BACKENDS) with $($CHROMIUM --version 2>/dev/null | head -n 1)"
status=0
# Every *.test.js here, one after the other (ZEGEL_BROWSER_TESTS="a.test.js b.test.js": only those).
tests="${ZEGEL_BROWSER_TESTS:-$(cd "$browser_dir" && ls *.test.js)}"
for file in $tests; do
    pg_url=""
    if [[ " $BACKENDS " == *" postgres "* ]]; then
        new_pg_url
    fi
    log "node --test $file"
    (
        cd "$browser_dir"
        ZEGEL_BIN="$BIN" \
        ZEGEL_BROWSER_ARTIFACTS="$ARTIFACTS" \
        ZEGEL_BROWSER_BACKENDS="$BACKENDS" \
        ZEGEL_BROWSER_POSTGRES_URL="$pg_url" \
            node --test-reporter=spec "$file"
    ) || status=$?
done

log "browser tests took $((SECONDS - started)) s; screenshots and axe/layout summaries: $ARTIFACTS"
if [ "$status" -ne 0 ]; then
    echo "browser tests FAILED (see above; screenshots in $ARTIFACTS)" >&2
    exit "$status"
fi
