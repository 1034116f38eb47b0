#!/usr/bin/env bash
# The Swift side on a host without Xcode (issue #10): the Swift package in ios/ built against the
# host library, in Swift 6 language mode (complete strict-concurrency checking) with warnings as
# errors, its XCTest suites, and the Swift sample (ios/Sample) against the reference backend.
#
#   bash tests/swift.sh
#
# Assumes `cargo build -p aparking-core -p uniffi-bindgen -p aparking-server` (debug) was run,
# as tests/run-all.sh does; generates the bindings (ios/generate-bindings.sh) and builds the
# package once (ios/.build), then runs the tests and the sample from that build. Without a
# Swift toolchain it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null 2>&1; then
    echo "swift: skipped: no Swift toolchain on this machine (install Swift 6 from swift.org, or use a Mac)"
    exit 0
fi
echo "swift: $(swift --version 2>/dev/null | head -n 1)"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
server="$target_dir/debug/aparking-server"
if [[ ! -x "$server" ]]; then
    echo "swift: $server missing; run: cargo build -p aparking-core -p uniffi-bindgen -p aparking-server" >&2
    exit 1
fi

bash ios/generate-bindings.sh
export APARKING_LIB_DIR="$target_dir/debug"
# The tests and the sample start the reference backend as a child process from here.
export APARKING_SERVER_BIN="$server"

# The README's Swift block, as a function the test target compiles (git-ignored).
bash tests/readme-snippets.sh swift ios/Tests/AparkingCoreTests/ReadmeSnippets.swift

echo "swift: swift build (Swift 6 mode, -warnings-as-errors): the package, its tests and the sample"
swift build --package-path ios --build-tests -Xswiftc -warnings-as-errors

echo "swift: swift test (XCTest)"
swift test --package-path ios --skip-build --disable-swift-testing

echo "swift: the Swift sample (ios/Sample) against the reference backend"
swift run --package-path ios --skip-build aparking-sample
