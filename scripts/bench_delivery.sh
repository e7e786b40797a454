#!/usr/bin/env bash
# Delivery throughput benchmark: Zegel notifications vs. plain Postfix (see docs/benchmarks.md).
# Usage: scripts/bench_delivery.sh [-n N] [-c CONCURRENCY] [--client wrk|python] [--skip-postgres]
#        [--json FILE]
# Needs root (a private Postfix instance, smtp-sink -u postfix) and, for PostgreSQL,
# psql access as postgres@127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v smtp-source >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y postfix wrk; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y postfix wrk
    fi
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -p zegel
python3 scripts/bench_delivery.py --zegel "$CARGO_TARGET_DIR/release/zegel" "$@"
