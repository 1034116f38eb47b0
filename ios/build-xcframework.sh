#!/usr/bin/env bash
# Builds the Rust core for iOS as an XCFramework and generates the Swift bindings, for the
# Swift package in this directory (ios/Package.swift):
#
#   bash ios/build-xcframework.sh            # release staticlibs + Swift bindings + XCFramework + zip
#   bash ios/build-xcframework.sh --check    # only check the toolchain (exit 0 or 2)
#
# Output:
#   ios/build/AparkingCoreFFI.xcframework       ios-arm64 + ios-arm64_x86_64-simulator static libraries,
#                                               Headers/AparkingCoreFFI/{AparkingCoreFFI.h,module.modulemap}
#   ios/build/AparkingCoreFFI.xcframework.zip   the same, zipped for a release (its SwiftPM checksum is printed)
#   ios/Sources/AparkingCore/AparkingCore.swift the generated Swift bindings (module AparkingCore)
#
# Needs macOS with Xcode 15+ (xcodebuild, lipo), Rust with rustup and the targets
# aarch64-apple-ios, aarch64-apple-ios-sim, x86_64-apple-ios. Everything missing is reported at
# once, before any build starts.
#
# Exit codes: 0 done; 2 a toolchain piece is missing (nothing was built); 1 usage error;
# anything else: the build failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

# Keep in sync with `platforms` in Package.swift.
export IPHONEOS_DEPLOYMENT_TARGET=15.0
device_target=aarch64-apple-ios
sim_targets=(aarch64-apple-ios-sim x86_64-apple-ios)
all_targets=("$device_target" "${sim_targets[@]}")
ffi_module=AparkingCoreFFI
swift_module=AparkingCore
lib_name=libaparking_core.a

check_only=false
for arg in "$@"; do
    case "$arg" in
        --check) check_only=true ;;
        -h | --help)
            sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build-xcframework.sh: unknown argument '$arg' (try --help)" >&2
            exit 1
            ;;
    esac
done

log() { printf '==> %s\n' "$*"; }

# --- toolchain checks (cheap; nothing is built before they all pass) -----------------------

problems=()
add_problem() { problems+=("$1"); }

os="$(uname -s)"
if [[ "$os" != Darwin ]]; then
    add_problem "This is $os: an iOS XCFramework can only be built on macOS with Xcode 15 or newer
      (xcodebuild, lipo and the iOS SDKs). Run this script on a Mac."
else
    if ! command -v xcodebuild >/dev/null 2>&1 || ! xcodebuild -version >/dev/null 2>&1; then
        add_problem "xcodebuild is not usable: install Xcode 15 or newer from the App Store, then
      sudo xcode-select --switch /Applications/Xcode.app && sudo xcodebuild -license accept"
    else
        xcode_major="$(xcodebuild -version | sed -n 's/^Xcode \([0-9][0-9]*\).*/\1/p' | head -n 1)"
        if [[ -z "$xcode_major" || "$xcode_major" -lt 15 ]]; then
            add_problem "Xcode ${xcode_major:-?} found; Xcode 15 or newer is needed (Swift 5.9, iOS 17 SDK)."
        fi
    fi
    if ! command -v lipo >/dev/null 2>&1; then
        add_problem "lipo is missing: install the Xcode command line tools (xcode-select --install)."
    fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    add_problem "Rust (cargo) is not on PATH.
      install: https://rustup.rs  (curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh)"
fi
if command -v rustup >/dev/null 2>&1; then
    installed="$(rustup target list --installed 2>/dev/null || true)"
    missing_targets=()
    for t in "${all_targets[@]}"; do
        grep -qx "$t" <<<"$installed" || missing_targets+=("$t")
    done
    if ((${#missing_targets[@]} > 0)); then
        add_problem "Rust targets not installed: ${missing_targets[*]}
      install: rustup target add ${all_targets[*]}"
    fi
else
    add_problem "rustup is not on PATH, so the iOS std libraries cannot be checked or installed.
      install: https://rustup.rs, then: rustup target add ${all_targets[*]}"
fi

if ((${#problems[@]} > 0)); then
    {
        echo "build-xcframework.sh: cannot build the iOS XCFramework; missing toolchain pieces:"
        for p in "${problems[@]}"; do
            printf '  - %s\n' "$p"
        done
        echo "Needed: macOS with Xcode 15+, and: rustup target add ${all_targets[*]}"
        echo "Nothing was built."
    } >&2
    exit 2
fi

if $check_only; then
    echo "build-xcframework.sh: toolchain OK ($(xcodebuild -version | head -n 1), targets ${all_targets[*]})"
    exit 0
fi

# --- build ----------------------------------------------------------------------------------

cd "$root"
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[[ -n "$target_dir" ]] || target_dir="$root/target"

out="$here/build"
work="$out/work"
xcframework="$out/$ffi_module.xcframework"
rm -rf "$work" "$xcframework" "$xcframework.zip"
mkdir -p "$work"

for t in "${all_targets[@]}"; do
    # The static library alone, so that the release profile's LTO runs (rustc skips fat LTO
    # when the same build makes the `lib` crate type too; docs/performance.md, "Library size").
    log "cargo rustc --release --crate-type staticlib --target $t"
    cargo rustc --release -p aparking-core --lib --crate-type staticlib --target "$t"
done

log "lipo: one simulator library for arm64 + x86_64"
mkdir -p "$work/ios-device" "$work/ios-simulator"
cp "$target_dir/$device_target/release/$lib_name" "$work/ios-device/$lib_name"
sim_libs=()
for t in "${sim_targets[@]}"; do sim_libs+=("$target_dir/$t/release/$lib_name"); done
lipo -create "${sim_libs[@]}" -output "$work/ios-simulator/$lib_name"

# The release profile strips symbols, and uniffi-bindgen reads the metadata from the symbol
# table ("No UniFFI metadata found"): generate the bindings from a host debug build.
log "host debug build + Swift bindings"
cargo build -p aparking-core -p uniffi-bindgen
"$target_dir/debug/uniffi-bindgen" generate --language swift --no-format \
    --out-dir "$work/bindings" "$target_dir/debug/libaparking_core.dylib"
for f in "$swift_module.swift" "$ffi_module.h" "$ffi_module.modulemap"; do
    [[ -f "$work/bindings/$f" ]] || {
        echo "build-xcframework.sh: uniffi-bindgen did not produce $f" >&2
        exit 1
    }
done

# Headers/AparkingCoreFFI/module.modulemap, not Headers/module.modulemap: Xcode copies the
# Headers of every XCFramework of an app into one include directory, and two frameworks with
# a top-level module.modulemap overwrite each other ("redefinition of module").
headers="$work/headers"
mkdir -p "$headers/$ffi_module"
cp "$work/bindings/$ffi_module.h" "$headers/$ffi_module/"
cp "$work/bindings/$ffi_module.modulemap" "$headers/$ffi_module/module.modulemap"

log "xcodebuild -create-xcframework"
xcodebuild -create-xcframework \
    -library "$work/ios-device/$lib_name" -headers "$headers" \
    -library "$work/ios-simulator/$lib_name" -headers "$headers" \
    -output "$xcframework"

mkdir -p "$here/Sources/$swift_module"
cp "$work/bindings/$swift_module.swift" "$here/Sources/$swift_module/$swift_module.swift"

log "zip for a release"
(cd "$out" && ditto -c -k --sequesterRsrc --keepParent "$ffi_module.xcframework" "$ffi_module.xcframework.zip")
checksum="$(shasum -a 256 "$xcframework.zip" | cut -d' ' -f1)"

rm -rf "$work"
log "done: $xcframework"
log "Swift bindings: $here/Sources/$swift_module/$swift_module.swift"
log "release zip: $xcframework.zip (SwiftPM checksum $checksum)"
