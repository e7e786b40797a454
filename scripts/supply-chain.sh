#!/usr/bin/env bash
# Supply-chain checks, offline: `cargo deny check` (advisories, bans, licenses, sources; policy
# and every exception with its reason in deny.toml) and `cargo audit` (exceptions in
# .cargo/audit.toml), both against a snapshot of the RustSec advisory database on this machine,
# never fetched (where it is looked for: below).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/tools.sh
. scripts/tools.sh

# The snapshot: $ZEGEL_ADVISORY_DB, else ../shared/advisory-db beside this clone, else the
# workplace's /work/shared/advisory-db (a fresh clone made elsewhere, as CI's may be), else the
# copy an earlier run of this script kept in the tools cache.
ADVISORY_DB=""
for candidate in "${ZEGEL_ADVISORY_DB:-}" ../shared/advisory-db /work/shared/advisory-db \
    "$HOME/.cache/zegel-tools/advisory-dbs/advisory-db-3157b0e258782691"; do
    if [ -n "$candidate" ] && [ -d "$candidate/crates" ]; then
        ADVISORY_DB="$candidate"
        break
    fi
done
if [ -z "$ADVISORY_DB" ]; then
    echo "no advisory database found (looked at \$ZEGEL_ADVISORY_DB, ../shared/advisory-db," \
        "/work/shared/advisory-db and the tools cache); set ZEGEL_ADVISORY_DB to a copy of" \
        "rustsec/advisory-db" >&2
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
if [ "$ADVISORY_DB" = "$(cd "$deny_db" 2>/dev/null && pwd)" ]; then
    tools_log "using the copy in the tools cache (no snapshot found beside the clone)"
elif [ ! -f "$deny_db/.zegel-snapshot" ] || [ "$(cat "$deny_db/.zegel-snapshot")" != "$stamp" ]; then
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

# cargo deny reads `cargo metadata` of every platform, so the sources of crates this machine
# never builds (web-sys, android_system_properties ...) must be in the local registry too:
# fetch them (from crates.io, as the build does) before the offline check.
tools_log "cargo fetch --locked (every platform's crates, for cargo deny's metadata)"
cargo fetch --locked --quiet
tools_log "cargo deny check (offline: advisories, bans, licenses, sources)"
cargo_deny --offline --locked check --show-stats --hide-inclusion-graph

tools_log "cargo audit (offline, database $ADVISORY_DB)"
cargo_audit --no-fetch --db "$ADVISORY_DB" --deny warnings
