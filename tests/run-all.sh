#!/usr/bin/env bash
# Runs every test of the project, as CI does: formatting, lints, the Rust tests (unit,
# integration, doc tests, a short cargo-fuzz run of every fuzz target, the benchmarks once in
# test mode) and the Kotlin tests on the JVM through the generated bindings.
#
#   bash tests/run-all.sh
#
# Needs cargo (with rustfmt and clippy), a JDK 17 and Maven. `.ci/run` installs what is
# missing and then calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step prints the minutes:seconds since the start, so CI logs show where time goes.
step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "supply chain: cargo deny (licenses, bans, sources)"
bash tests/deny.sh

step "Rust tests"
cargo test --workspace --locked

step "fuzz targets, 15 s each (cargo-fuzz on nightly; skipped without nightly)"
bash tests/fuzz-smoke.sh

step "benchmarks, once each in test mode"
cargo test --locked --benches

step "host library for the Kotlin bindings"
cargo build --locked -p aparking-core -p uniffi-bindgen -p aparking-server

step "size budget of the release library"
bash tests/size-check.sh

step "packaging scripts (Android, iOS) and the generated Swift bindings"
bash tests/packaging.sh

step "Kotlin tests on the JVM (generated bindings + JNA)"
mvn -B -f bindings/kotlin/pom.xml test -Dcargo.skip=true

step "the Kotlin sample (examples/kotlin) runs on the JVM"
mvn -B -q -f examples/kotlin/pom.xml compile exec:java

step "all tests passed"
