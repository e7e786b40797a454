#!/usr/bin/env bash
# Attachment throughput / memory benchmark (see docs/benchmarks.md).
# Usage: scripts/bench.sh [--size-mib N] [--dir DIR] [--json FILE] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p zegel
python3 scripts/bench.py "$@"
