#!/usr/bin/env bash
# Generates the Swift bindings of the host library into the Swift package, for `swift build` and
# `swift test` on a host (Linux or macOS) without the XCFramework:
#   ios/Sources/AparkingCore/AparkingCore.swift      the generated Swift (module AparkingCore)
#   ios/Sources/AparkingCoreFFI/AparkingCoreFFI.h    the C header of the FFI (module AparkingCoreFFI)
# Both are generated files (ignored by git); the module map beside the header is ours.
#
#   bash ios/generate-bindings.sh [LIBRARY]   # default: target/debug/libaparking_core.{so,dylib}
#
# Needs `cargo build -p aparking-core -p uniffi-bindgen` (debug: uniffi-bindgen reads the
# metadata from the symbol table, which the stripped release library does not have). Writes
# the files only when their content changed, so SwiftPM does not rebuild for nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$(uname -s)" in
    Darwin) default_lib="$target_dir/debug/libaparking_core.dylib" ;;
    *) default_lib="$target_dir/debug/libaparking_core.so" ;;
esac
lib="${1:-$default_lib}"
bindgen="$target_dir/debug/uniffi-bindgen"
if [[ ! -f "$lib" || ! -x "$bindgen" ]]; then
    echo "generate-bindings.sh: $lib or $bindgen missing; run: cargo build -p aparking-core -p uniffi-bindgen" >&2
    exit 1
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$bindgen" generate --language swift --no-format --out-dir "$out" "$lib" >/dev/null
# install_if_changed SRC DEST
install_if_changed() {
    if ! cmp -s "$1" "$2"; then
        mkdir -p "$(dirname "$2")"
        cp "$1" "$2"
        echo "generate-bindings.sh: wrote ${2#"$root"/}"
    fi
}
install_if_changed "$out/AparkingCore.swift" "$here/Sources/AparkingCore/AparkingCore.swift"
install_if_changed "$out/AparkingCoreFFI.h" "$here/Sources/AparkingCoreFFI/AparkingCoreFFI.h"
