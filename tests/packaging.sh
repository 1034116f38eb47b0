#!/usr/bin/env bash
# Checks the Android (android/) and iOS (ios/) packaging as far as a machine without the
# Android NDK and without Xcode can:
#   - both build scripts stop with exit 2 and name the missing toolchain pieces;
#   - the Swift bindings generate from the host library (AparkingCore.swift, AparkingCoreFFI.h,
#     AparkingCoreFFI.modulemap declaring `module AparkingCoreFFI`);
#   - the XCTest files are in place (tests/swift.sh compiles and runs them);
#   - the Kotlin bindings generate in package kz.aparking.core;
#   - the Gradle module, consumer rules, Package.swift and scripts agree with each other.
#
#   bash tests/packaging.sh
#
# Assumes `cargo build -p aparking-core -p uniffi-bindgen` (debug) was run; builds nothing.
# Last line: `packaging: N passed, M failed`; exit status 1 if any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    printf 'ok    %s\n' "$1"
}
fail() {
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$1"
    if [[ $# -gt 1 ]]; then printf '      %s\n' "${@:2}"; fi
}
# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
    local desc="$1"
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}
# contains FILE REGEX (grep -E, multi-line safe per line)
contains() { grep -Eq -- "$2" "$1"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$(uname -s)" in
    Darwin) host_lib="$target_dir/debug/libaparking_core.dylib" ;;
    *) host_lib="$target_dir/debug/libaparking_core.so" ;;
esac
bindgen="$target_dir/debug/uniffi-bindgen"
if [[ ! -f "$host_lib" || ! -x "$bindgen" ]]; then
    echo "packaging: $host_lib or $bindgen missing; run: cargo build -p aparking-core -p uniffi-bindgen" >&2
    echo "packaging: 0 passed, 1 failed"
    exit 1
fi

# --- (a) android/build-rust.sh without an NDK --------------------------------------------------
# The Android variables are removed and HOME points at an empty directory, so neither the
# variables nor Android Studio's default SDK locations lead to an NDK; cargo and rustup keep
# their real homes.
mkdir -p "$tmp/home"
rc=0
env -u ANDROID_NDK_HOME -u ANDROID_NDK_ROOT -u ANDROID_NDK_PATH -u NDK_HOME \
    -u ANDROID_HOME -u ANDROID_SDK_ROOT -u ANDROID_SDK_HOME \
    HOME="$tmp/home" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
    bash android/build-rust.sh >"$tmp/android.out" 2>"$tmp/android.err" || rc=$?
android_err="$tmp/android.err"
if [[ $rc -eq 2 ]]; then
    pass "android/build-rust.sh exits 2 without an NDK"
else
    fail "android/build-rust.sh exits 2 without an NDK (got $rc)" "$(head -c 2000 "$android_err")"
fi
check "android/build-rust.sh names the NDK install step (sdkmanager \"ndk;27.x\")" \
    contains "$android_err" 'sdkmanager --install "ndk;27\.[0-9.]+"'
check "android/build-rust.sh names ANDROID_NDK_HOME / ANDROID_HOME" \
    contains "$android_err" 'ANDROID_NDK_HOME.*ANDROID_NDK_ROOT.*ANDROID_HOME'
if cargo --list 2>/dev/null | awk '{print $1}' | grep -qx ndk; then
    pass "android/build-rust.sh cargo-ndk hint (cargo-ndk is installed here: nothing to say)"
else
    check "android/build-rust.sh names the cargo-ndk install step" contains "$android_err" 'cargo install cargo-ndk'
fi
missing_android_targets=false
for t in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android; do
    rustup target list --installed 2>/dev/null | grep -qx "$t" || missing_android_targets=true
done
if $missing_android_targets; then
    check "android/build-rust.sh names the rustup targets to add" \
        contains "$android_err" 'rustup target add .*aarch64-linux-android'
fi
# Its build steps print "==> ..." on stdout: none may have started.
check "android/build-rust.sh stopped before building anything" test ! -s "$tmp/android.out"

# --- (b) ios/build-xcframework.sh off macOS ----------------------------------------------------
rc=0
if [[ "$(uname -s)" == Darwin ]]; then
    # On a Mac the script would really build: only run its toolchain check.
    bash ios/build-xcframework.sh --check >"$tmp/ios.out" 2>"$tmp/ios.err" || rc=$?
    if [[ $rc -eq 0 || $rc -eq 2 ]]; then
        pass "ios/build-xcframework.sh --check on macOS exits 0 or 2 (got $rc)"
    else
        fail "ios/build-xcframework.sh --check on macOS exits 0 or 2 (got $rc)" "$(cat "$tmp/ios.err")"
    fi
else
    bash ios/build-xcframework.sh >"$tmp/ios.out" 2>"$tmp/ios.err" || rc=$?
    if [[ $rc -eq 2 ]]; then
        pass "ios/build-xcframework.sh exits 2 off macOS"
    else
        fail "ios/build-xcframework.sh exits 2 off macOS (got $rc)" "$(head -c 2000 "$tmp/ios.err")"
    fi
    check "ios/build-xcframework.sh says macOS with Xcode 15+ is needed" \
        contains "$tmp/ios.err" 'macOS with Xcode 15'
    check "ios/build-xcframework.sh names the rustup targets" \
        contains "$tmp/ios.err" 'rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios'
    check "ios/build-xcframework.sh stopped before building anything" test ! -s "$tmp/ios.out"
fi

# --- (c) Swift bindings generate on this machine -----------------------------------------------
swift_dir="$tmp/swift"
if "$bindgen" generate --language swift --no-format --out-dir "$swift_dir" "$host_lib" >"$tmp/swiftgen.log" 2>&1; then
    pass "uniffi-bindgen generates the Swift bindings"
else
    fail "uniffi-bindgen generates the Swift bindings" "$(tail -n 20 "$tmp/swiftgen.log")"
fi
swift="$swift_dir/AparkingCore.swift"
for f in AparkingCore.swift AparkingCoreFFI.h AparkingCoreFFI.modulemap; do
    check "Swift bindings: $f exists" test -s "$swift_dir/$f"
done
modulemap="$swift_dir/AparkingCoreFFI.modulemap"
check "module map declares 'module AparkingCoreFFI'" contains "$modulemap" '^[[:space:]]*module AparkingCoreFFI[[:space:]]*\{'
# The script renames the map to module.modulemap next to the header: the header path must be relative.
check "module map names the header 'AparkingCoreFFI.h' (valid after the rename to module.modulemap)" \
    contains "$modulemap" '^[[:space:]]*header "AparkingCoreFFI\.h"'
check "AparkingCore.swift imports the AparkingCoreFFI module" contains "$swift" '^[[:space:]]*import AparkingCoreFFI'
check "AparkingCoreFFI.h declares the Store constructor" contains "$swift_dir/AparkingCoreFFI.h" 'uniffi_aparking_core_fn_constructor_store_open'

# --- (d) the XCTest files --------------------------------------------------------------------
# tests/swift.sh compiles them against these very bindings (Swift 6 mode, warnings as errors)
# and runs them, so the compiler checks every call, label and exhaustive switch; here only
# that they are where Package.swift says.
tests_dir="ios/Tests/AparkingCoreTests"
have_tests() { compgen -G "$tests_dir/*.swift" >/dev/null; }
check "XCTest files exist in $tests_dir" have_tests
# shellcheck disable=SC2016 # the backquotes are Swift's, not a command substitution
check "Swift: public static func open(path:keyProvider:) on Store" \
    contains "$swift" '^public static func `open`\(path: String, keyProvider: KeyProvider\)[[:space:]]*throws[[:space:]]*-> Store'

# --- (e) Kotlin bindings -------------------------------------------------------------------------
kt_dir="$tmp/kotlin"
if "$bindgen" generate --language kotlin --no-format --out-dir "$kt_dir" "$host_lib" >"$tmp/ktgen.log" 2>&1; then
    pass "uniffi-bindgen generates the Kotlin bindings"
else
    fail "uniffi-bindgen generates the Kotlin bindings" "$(tail -n 20 "$tmp/ktgen.log")"
fi
kt="$kt_dir/kz/aparking/core/aparking_core.kt"
check "Kotlin bindings: kz/aparking/core/aparking_core.kt exists" test -s "$kt"
check "Kotlin bindings declare 'package kz.aparking.core'" contains "$kt" '^package kz\.aparking\.core$'
check "Kotlin bindings load the library 'aparking_core' (the .so name in jniLibs)" contains "$kt" '"aparking_core"'

# --- static consistency of the packaging files -------------------------------------------------
gradle=android/build.gradle.kts
# all_in FILE STRING...: every STRING occurs (fixed string) in FILE.
all_in() {
    local file="$1" s
    shift
    for s in "$@"; do grep -qF -- "$s" "$file" || return 1; done
}
same_min_sdk() {
    local script gradle_min
    script="$(sed -n 's/^min_sdk=\([0-9]*\).*/\1/p' android/build-rust.sh)"
    gradle_min="$(sed -n 's/.*minSdk = \([0-9]*\).*/\1/p' "$gradle")"
    [[ -n "$script" && "$script" == "$gradle_min" ]]
}
crate_version="$(sed -n '/^\[package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
tools_6() { head -n 1 ios/Package.swift | grep -q "swift-tools-version:6\.0"; }

check "Gradle: com.android.library, namespace kz.aparking.core" \
    all_in "$gradle" 'id("com.android.library")' 'namespace = "kz.aparking.core"'
check "Gradle: compileSdk 35, minSdk 24, JVM target 17" \
    all_in "$gradle" 'compileSdk = 35' 'minSdk = 24' 'JvmTarget.JVM_17' 'JavaVersion.VERSION_17'
check "Gradle: JNA 5.19.1@aar and kotlinx-coroutines-android 1.10.2" \
    all_in "$gradle" '"net.java.dev.jna:jna:5.19.1@aar"' '"org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2"'
check "Gradle: source sets use build/generated/uniffi and build/rustJniLibs; build-rust.sh before preBuild" \
    all_in "$gradle" '"generated/uniffi"' '"rustJniLibs"' 'java.srcDir(uniffiKotlin)' 'jniLibs.srcDir(rustJniLibs)' \
    'build-rust.sh' 'tasks.named("preBuild")' 'dependsOn(buildRust)'
check "Gradle: consumer-rules.pro is shipped in the AAR" all_in "$gradle" 'consumerProguardFiles("consumer-rules.pro")'
check "build-rust.sh min_sdk equals Gradle minSdk" same_min_sdk
check "build-rust.sh: 4 ABIs, release cdylib alone (LTO), 16 KB max page size, packed relocations, outputs where Gradle reads them" \
    all_in android/build-rust.sh 'arm64-v8a armeabi-v7a x86_64 x86' 'rustc --release' '--crate-type cdylib' 'max-page-size=16384' 'pack-dyn-relocs=android' \
    '/build/rustJniLibs' '/build/generated/uniffi'
check "consumer-rules.pro keeps JNA and kz.aparking.core" \
    all_in android/consumer-rules.pro '-keep class com.sun.jna.** { *; }' '-keep class * implements com.sun.jna.** { *; }' \
    '-dontwarn java.awt.**' '-keep class kz.aparking.core.** { *; }'
check "gradle.properties publishes kz.aparking:aparking-core-android:$crate_version (the crate version)" \
    all_in android/gradle.properties 'GROUP=kz.aparking' 'POM_ARTIFACT_ID=aparking-core-android' "VERSION_NAME=$crate_version"
check "Package.swift: swift-tools-version 6.0 (Swift 6 language mode)" tools_6
check "Package.swift: iOS 15, binaryTarget at build/AparkingCoreFFI.xcframework, AparkingCore, test target" \
    all_in ios/Package.swift '.iOS(.v15)' 'name: "AparkingCoreFFI"' 'path: "build/AparkingCoreFFI.xcframework"' \
    'name: "AparkingCore"' 'dependencies: ["AparkingCoreFFI"]' '.testTarget(' 'name: "AparkingCoreTests"'
# shellcheck disable=SC2016 # literal text of the script, not expansions
check "build-xcframework.sh: module map as Headers/AparkingCoreFFI/module.modulemap, output where Package.swift reads" \
    all_in ios/build-xcframework.sh '$headers/$ffi_module/module.modulemap' 'xcframework="$out/$ffi_module.xcframework"' \
    'lipo -create' 'xcodebuild -create-xcframework'
check "uniffi.toml Swift module names match the package (AparkingCore / AparkingCoreFFI)" \
    all_in uniffi.toml 'module_name = "AparkingCore"' 'ffi_module_name = "AparkingCoreFFI"'
check "android script parses (bash -n)" bash -n android/build-rust.sh
check "ios script parses (bash -n)" bash -n ios/build-xcframework.sh
if command -v shellcheck >/dev/null 2>&1; then
    check "shellcheck (warnings and errors): build scripts and this test" \
        shellcheck -S warning android/build-rust.sh ios/build-xcframework.sh tests/packaging.sh
fi

echo "packaging: $passed passed, $failed failed"
((failed == 0))
