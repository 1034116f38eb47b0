#!/usr/bin/env bash
# Runs every test of the project, as CI does: formatting, lints, the Rust tests (unit,
# integration, doc tests, a short cargo-fuzz run of every fuzz target, the benchmarks once in
# test mode), the Kotlin tests on the JVM and the Swift tests (SwiftPM + XCTest on the host
# library) through the generated bindings.
#
#   bash tests/run-all.sh
#
# Needs cargo (with rustfmt and clippy), a JDK 17, Maven and Swift 5.10+/6 (the Swift step, the
# fmt and clippy steps and the fuzz step say so and are skipped where the machine lacks their
# tool). `.ci/run` installs what is missing and then calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step prints the minutes:seconds since the start, so CI logs show where time goes.
step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# On a machine set up with ../shared/offline/use-offline.sh (.ci/run does it where no crates
# registry answers, and exports APARKING_OFFLINE=1), Maven goes offline (-o) too: everything
# the poms use is then in ~/.m2 already, and Maven Central is not reachable.
if [ "${APARKING_OFFLINE:-0}" != 1 ] &&
    grep -qsF 'aparking offline crates' "${CARGO_HOME:-$HOME/.cargo}/config.toml"; then
    export APARKING_OFFLINE=1
fi
mvn_flags=(-B)
if [ "${APARKING_OFFLINE:-0}" = 1 ]; then
    mvn_flags+=(-o)
    echo "offline package set in use (../shared/offline): Maven runs with -o"
fi

step "cargo fmt --check"
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all -- --check
else
    echo "skipped: rustfmt is not installed on this machine (rustup component add rustfmt)"
fi

step "cargo clippy (warnings are errors)"
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets --locked -- -D warnings
else
    echo "skipped: clippy is not installed on this machine (rustup component add clippy)"
fi

step "supply chain: cargo deny (licenses, bans, sources)"
bash tests/deny.sh

step "Rust tests"
cargo test --workspace --locked

step "crash, chaos, fault and power-loss tests again at Durability.Normal"
# The suite above runs them at the default (Full); the same binaries, no rebuild.
APARKING_TEST_DURABILITY=normal cargo test --workspace --locked \
    --test store_crash --test chaos_kill --test sync_crash --test sync_faults \
    --test store_power_loss

step "fuzz targets, 15 s each (cargo-fuzz on nightly; skipped without nightly)"
bash tests/fuzz-smoke.sh

step "benchmarks, once each in test mode"
cargo test --locked --benches

step "host library for the Kotlin bindings"
# With the `testing` feature the Rust tests above were built with, so this is the same build
# (no second compile of the core); the feature adds Rust-only test hooks that uniffi does not
# export, so the generated Kotlin and Swift are the same. Release builds never have it.
cargo build --locked -p aparking-core -p uniffi-bindgen -p aparking-server --features aparking-core/testing

step "size budget of the release library"
bash tests/size-check.sh

step "packaging scripts (Android, iOS) and the generated Swift bindings"
bash tests/packaging.sh

step "Kotlin tests on the JVM (generated bindings + JNA)"
mvn "${mvn_flags[@]}" -f bindings/kotlin/pom.xml test -Dcargo.skip=true

step "the JVM artifact kz.aparking:aparking-core-jvm (mvn install) and what it carries"
bash tests/jvm-artifact.sh "${mvn_flags[@]}"

step "the Kotlin sample (examples/kotlin), which depends on that artifact, runs on the JVM"
mvn "${mvn_flags[@]}" -q -f examples/kotlin/pom.xml compile exec:java

step "Swift package on the host library: build (Swift 6, strict concurrency), XCTest, the Swift sample"
bash tests/swift.sh

step "all tests passed"
