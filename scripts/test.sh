#!/usr/bin/env bash
# The one test command (README and CI run exactly this): installs what the tests need when it
# is missing, makes sure PostgreSQL is up, then runs fmt, the supply-chain checks (offline), clippy
# and every test of the workspace (the Store suite and the API tests on SQLite and PostgreSQL,
# the property tests, the end-to-end tests on the binary with a real SMTP server), schemathesis
# against a running server, and the browser tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DEBIAN_FRONTEND=noninteractive
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/zegel-target}"
# One build per run: incremental state would only add gigabytes (per fresh clone) to the target dir.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
PG_HOST=127.0.0.1
PG_PORT=5432

# Each step with the seconds since the start, so a slow step shows in the CI log.
log() { printf '==> [%4ss] %s\n' "$SECONDS" "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        $SUDO apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install $*"
    $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The build needs several GiB: say how much there is, so a full disk shows as the cause at once.
mkdir -p "$CARGO_TARGET_DIR"
free_kib="$(df -Pk "$CARGO_TARGET_DIR" | awk 'NR == 2 { print $4 }')"
log "free disk at $CARGO_TARGET_DIR: $((free_kib / 1024 / 1024)) GiB; target dir: $(du -sh "$CARGO_TARGET_DIR" 2>/dev/null | cut -f1)"
if [ "$free_kib" -lt $((8 * 1024 * 1024)) ]; then
    log "warning: less than 8 GiB free; the build may fail with 'No space left on device'"
fi

# --- What the tests need -----------------------------------------------------------------------

# The SMTP end-to-end tests run a real SMTP server: Python's aiosmtpd. Debian's package goes into
# /usr/bin/python3 (`python3` may be a pyenv shim without it; the tests look in both).
has_aiosmtpd() {
    local py
    for py in "${ZEGEL_TEST_PYTHON:-}" python3 /usr/bin/python3; do
        [ -n "$py" ] || continue
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import aiosmtpd.controller' 2>/dev/null; then
            return 0
        fi
    done
    return 1
}
if ! has_aiosmtpd; then
    apt_install python3-aiosmtpd
    has_aiosmtpd || { echo "aiosmtpd is still not importable after installing it" >&2; exit 1; }
fi

# dnsmasq serves the NTA 7516 TXT and MX records on 127.0.0.1 for the direct-delivery tests.
if ! command -v dnsmasq >/dev/null 2>&1; then
    apt_install dnsmasq-base
fi

# dnslib serves the DANE (TLSA, with the AD bit of a validating resolver) and MTA-STS records
# for the direct-delivery tests; Debian's package goes into /usr/bin/python3.
if ! /usr/bin/python3 -c 'import dnslib' 2>/dev/null && ! python3 -c 'import dnslib' 2>/dev/null; then
    apt_install python3-dnslib
fi

# openssl makes throwaway RSA keys for the DKIM tests.
if ! command -v openssl >/dev/null 2>&1; then
    apt_install openssl
fi

# Passkeys (webauthn-rs) link OpenSSL: its headers and pkg-config to find them.
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists openssl 2>/dev/null; then
    apt_install libssl-dev pkg-config
fi

# PostgreSQL: the client tools (pg_dump for the plaintext scan), and a server when this machine has none.
if ! command -v pg_isready >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1; then
    apt_install postgresql-client
fi
if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
    if [ ! -d /etc/postgresql ] || [ -z "$(ls -A /etc/postgresql 2>/dev/null)" ]; then
        apt_install postgresql
        # A cluster we just installed: let local TCP connections in without a password, as on
        # the machines the tests are written for (trust auth on 127.0.0.1).
        for hba in /etc/postgresql/*/main/pg_hba.conf; do
            $SUDO sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
        done
    fi
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    log "starting PostgreSQL $version"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 60); do
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break
        sleep 0.5
    done
    pg_isready -h "$PG_HOST" -p "$PG_PORT" || { echo "PostgreSQL did not come up" >&2; exit 1; }
fi
export ZEGEL_TEST_POSTGRES_URL="${ZEGEL_TEST_POSTGRES_URL:-postgres://postgres@$PG_HOST:$PG_PORT/postgres}"

# --- Checks and tests --------------------------------------------------------------------------

log "cargo fmt --all -- --check"
cargo fmt --all -- --check

log "scripts/module_cycles.py (no import cycles among sibling modules)"
python3 scripts/module_cycles.py

# Supply chain, offline (scripts/supply-chain.sh): cargo deny and cargo audit against the
# advisory-db snapshot in ../shared/advisory-db ($ZEGEL_ADVISORY_DB); exceptions with their
# reasons in deny.toml and .cargo/audit.toml. The pinned tools are installed once into
# ~/.cache/zegel-tools (scripts/tools.sh).
log "scripts/supply-chain.sh (cargo deny, cargo audit; offline)"
bash scripts/supply-chain.sh

log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test --workspace (CARGO_TARGET_DIR=$CARGO_TARGET_DIR, PostgreSQL at $ZEGEL_TEST_POSTGRES_URL)"
cargo test --workspace

# --- API fuzzing --------------------------------------------------------------------------------
# schemathesis against /api/v1/openapi.json of a running `zegel serve` (SQLite, dev outbox) with a
# real sender token and recipient session: no 5xx, no response the document does not describe.
# Fixed seed and examples per operation, bounded in time (scripts/schemathesis.sh).
log "scripts/schemathesis.sh"
ZEGEL_SCHEMATHESIS_BIN="$CARGO_TARGET_DIR/debug/zegel" bash scripts/schemathesis.sh

# --- Browser tests -----------------------------------------------------------------------------
# The patient flow in Debian's chromium (playwright-core + axe-core), on SQLite and PostgreSQL
# (tests/browser/README.md). The script installs chromium and the npm packages when missing.
log "scripts/browser-test.sh"
# The binary `cargo test` just built (the zegel integration tests need it): no second build.
ZEGEL_BROWSER_BIN="$CARGO_TARGET_DIR/debug/zegel" bash scripts/browser-test.sh

log "all checks and tests passed"
