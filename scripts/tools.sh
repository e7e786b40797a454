# Sourced by scripts/test.sh and the scripts it runs: the pinned versions of the tools CI uses
# beyond cargo, installed once into a cache outside the clone ($ZEGEL_TOOLS, default
# ~/.cache/zegel-tools) and only when missing, so a warm run pays nothing for them.

ZEGEL_TOOLS="${ZEGEL_TOOLS:-$HOME/.cache/zegel-tools}"
CARGO_DENY_VERSION=0.20.2
CARGO_AUDIT_VERSION=0.22.2
SCHEMATHESIS_VERSION=4.32.5

tools_log() { printf '==> %s\n' "$*" >&2; }

# `cargo install` of one pinned tool into $ZEGEL_TOOLS/bin unless that version is there.
# Built in a throwaway target dir (deleted afterwards: it is ~300 MB of objects nobody reuses).
install_cargo_tool() {
    local name="$1" version="$2"
    local bin="$ZEGEL_TOOLS/bin/$name"
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qF " $version"; then
        return 0
    fi
    tools_log "cargo install $name@$version into $ZEGEL_TOOLS (once)"
    local build
    build="$(mktemp -d)"
    # A quick build, not a fast binary: these run for a second per CI run, and cargo-deny's own
    # release profile (fat LTO, one codegen unit) would take minutes longer on two cores.
    CARGO_TARGET_DIR="$build" CARGO_PROFILE_RELEASE_LTO=false \
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
        CARGO_PROFILE_RELEASE_DEBUG=0 \
        cargo install --locked --quiet --force --root "$ZEGEL_TOOLS" "$name@$version"
    rm -rf "$build"
}

cargo_deny() {
    install_cargo_tool cargo-deny "$CARGO_DENY_VERSION"
    "$ZEGEL_TOOLS/bin/cargo-deny" "$@"
}

cargo_audit() {
    install_cargo_tool cargo-audit "$CARGO_AUDIT_VERSION"
    # Run as `cargo-audit audit ...`, the way cargo calls the subcommand.
    "$ZEGEL_TOOLS/bin/cargo-audit" audit "$@"
}

# The schemathesis CLI from a venv of its own (pinned version, PyPI).
schemathesis_bin() {
    local venv="$ZEGEL_TOOLS/schemathesis-$SCHEMATHESIS_VERSION"
    if ! "$venv/bin/st" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
        tools_log "pip install schemathesis==$SCHEMATHESIS_VERSION into $venv (once)"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
    fi
    printf '%s\n' "$venv/bin/st"
}
