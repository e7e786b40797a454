#!/usr/bin/env bash
# Supply-chain checks, offline: `cargo deny check` (advisories, bans, licenses, sources; policy
# and every exception with its reason in deny.toml) and `cargo audit` (exceptions in
# .cargo/audit.toml), both against a snapshot of the RustSec advisory database on this machine,
# never fetched: $ZEGEL_ADVISORY_DB, default ../shared/advisory-db beside the clone.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/tools.sh
. scripts/tools.sh

ADVISORY_DB="${ZEGEL_ADVISORY_DB:-../shared/advisory-db}"
if [ ! -d "$ADVISORY_DB/crates" ]; then
    echo "no advisory database at $ADVISORY_DB (set ZEGEL_ADVISORY_DB to a copy of rustsec/advisory-db)" >&2
    exit 1
fi
ADVISORY_DB="$(cd "$ADVISORY_DB" && pwd)"
snapshot="$(head -c 300 "$ADVISORY_DB/SNAPSHOT.txt" 2>/dev/null || echo "(no SNAPSHOT.txt)")"
tools_log "advisory database: $ADVISORY_DB: $snapshot"

# cargo-deny reads its databases from <db-path>/advisory-db-<hash of the URL>/ and wants a git
# checkout there (it dates the database by the checkout). The snapshot is a plain read-only
# folder, so it is copied into a local repository in the tools cache, again only when the
# snapshot changed. deny.toml's db-path names this folder.
deny_dbs="$HOME/.cache/zegel-tools/advisory-dbs"
deny_db="$deny_dbs/advisory-db-3157b0e258782691" # the default URL's directory name
stamp="$(cat "$ADVISORY_DB/SNAPSHOT.txt" 2>/dev/null || true) $(find "$ADVISORY_DB" -type f | wc -l)"
if [ ! -f "$deny_db/.zegel-snapshot" ] || [ "$(cat "$deny_db/.zegel-snapshot")" != "$stamp" ]; then
    tools_log "copying the advisory database into $deny_db for cargo-deny"
    rm -rf "$deny_db"
    mkdir -p "$deny_db"
    cp -R "$ADVISORY_DB/." "$deny_db/"
    chmod -R u+w "$deny_db"
    git -C "$deny_db" init -q -b main
    git -C "$deny_db" add -A
    git -C "$deny_db" -c user.name=zegel-ci -c user.email=ci@zegel.invalid \
        commit -q -m "advisory-db snapshot: $snapshot"
    printf '%s' "$stamp" >"$deny_db/.zegel-snapshot"
fi

tools_log "cargo deny check (offline: advisories, bans, licenses, sources)"
cargo_deny --offline --locked check --show-stats --hide-inclusion-graph

tools_log "cargo audit (offline, database $ADVISORY_DB)"
cargo_audit --no-fetch --db "$ADVISORY_DB" --deny warnings
