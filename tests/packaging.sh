#!/usr/bin/env bash
# Checks the Android (android/) and iOS (ios/) packaging as far as a machine without the
# Android NDK and without Xcode can:
#   - both build scripts stop with exit 2 and name the missing toolchain pieces;
#   - the Swift bindings generate from the host library (AparkingCore.swift, AparkingCoreFFI.h,
#     AparkingCoreFFI.modulemap declaring `module AparkingCoreFFI`);
#   - every Store method and top-level function the XCTest files call, with its argument
#     labels, exists in the generated Swift;
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

# --- (d) what the XCTest files call exists in the generated Swift ------------------------------
tests_dir="ios/Tests/AparkingCoreTests"
have_tests() { compgen -G "$tests_dir/*.swift" >/dev/null; }
check "XCTest files exist" have_tests
# Every call `store.name(label:` / `other.name(` / `again.name(` on a Store, with its first
# label (calls may span lines, so the files are read as one line).
calls="$(cat "$tests_dir"/*.swift | tr '\n' ' ' |
    grep -oE '\b(store|other|again)\.[a-zA-Z]+\([[:space:]]*([a-zA-Z]+:)?' |
    sed -E 's/^[a-z]+\.//; s/[[:space:]]+//g' | sort -u)"
n_calls=0
missing_calls=()
while IFS= read -r call; do
    [[ -n "$call" ]] || continue
    n_calls=$((n_calls + 1))
    name="${call%%(*}"
    label="${call#*(}"
    if [[ -n "$label" ]]; then
        re="^open func $name\(${label}"
    else
        re="^open func $name\(\)"
    fi
    grep -Eq -- "$re" "$swift" || missing_calls+=("$call")
done <<<"$calls"
if ((n_calls >= 15 && ${#missing_calls[@]} == 0)); then
    pass "all $n_calls Store methods the XCTest files call exist with their labels"
else
    fail "Store methods the XCTest files call exist with their labels ($n_calls found)" "missing: ${missing_calls[*]:-}"
fi
# Top-level functions the tests call.
missing_fns=()
n_fns=0
for fn in parsePlate normalizePhone normalizeEmail normalizeDocumentNumber storeSchemaVersion requiredProfileFields sdkVersion; do
    grep -qE "\b$fn\(" "$tests_dir"/*.swift || continue
    n_fns=$((n_fns + 1))
    grep -Eq "^public func $fn\((input: String)?\)" "$swift" || missing_fns+=("$fn")
done
if ((n_fns > 0 && ${#missing_fns[@]} == 0)); then
    pass "all $n_fns top-level functions the XCTest files call exist"
else
    fail "top-level functions the XCTest files call exist" "missing: ${missing_fns[*]:-none called}"
fi
# The recovery functions the tests call, with their exact Swift signatures.
if grep -Eq "^public func deleteStoreFiles\(path: String\) *throws *\{" "$swift" &&
    grep -Eq "^public func moveStoreAside\(path: String\) *throws *-> *String *\{" "$swift" &&
    grep -q "deleteStoreFiles(path:" "$tests_dir"/KeysTests.swift &&
    grep -q "moveStoreAside(path:" "$tests_dir"/KeysTests.swift; then
    pass "Swift: deleteStoreFiles(path:) and moveStoreAside(path:) -> String exist and are tested"
else
    fail "Swift: deleteStoreFiles(path:) and moveStoreAside(path:) -> String exist and are tested"
fi
# shellcheck disable=SC2016 # the backquotes are Swift's, not a command substitution
check "Swift: public static func open(path:keyProvider:) on Store" \
    contains "$swift" '^public static func `open`\(path: String, keyProvider: KeyProvider\)[[:space:]]*throws[[:space:]]*-> Store'
check "Swift: protocol KeyProvider with func keyEncryptionKey() throws -> Data" \
    contains "$swift" '^[[:space:]]*func keyEncryptionKey\(\)[[:space:]]*throws[[:space:]]*-> Data'
check "Swift: KeyProviderError.Unavailable(reason:)" contains "$swift" '^[[:space:]]*case Unavailable\(reason: String'
check "Swift: enum AparkingError is Equatable (tests compare errors with ==)" \
    contains "$swift" '^enum AparkingError: Swift\.Error, Equatable'
# Every AparkingError case the tests use, with its associated-value labels.
missing_cases=()
for c in 'InvalidInput\(field: String, reason: String' 'AlreadyExists\(entity: String' 'NotFound\(entity: String' \
    'WrongKey$' 'KeyUnavailable\(reason: String' 'StoreCorrupted\(reason: String' 'StoreClosed$'; do
    grep -Eq "^[[:space:]]*case $c" "$swift" || missing_cases+=("$c")
done
if ((${#missing_cases[@]} == 0)); then
    pass "Swift: the AparkingError cases the tests use exist with their labels"
else
    fail "Swift: the AparkingError cases the tests use exist with their labels" "missing: ${missing_cases[*]}"
fi
# The exhaustive `switch` over AparkingError in FormatsTests.swift must name every case the
# bindings have, or the tests would not compile on a Mac.
error_cases="$(awk '/^enum AparkingError/ { inside = 1 } inside && $1 == "case" { sub(/\(.*/, "", $2); print $2 } inside && /^}/ { exit }' "$swift" | sort -u)"
switch_cases="$(grep -oE '^[[:space:]]*case (let )?\.[A-Za-z]+' "$tests_dir/FormatsTests.swift" | sed -E 's/.*\.//' | sort -u)"
if [[ -n "$error_cases" && "$error_cases" == "$switch_cases" ]]; then
    pass "FormatsTests.swift switch covers all $(wc -l <<<"$error_cases") AparkingError cases"
else
    fail "FormatsTests.swift switch covers every AparkingError case" \
        "bindings only: $(comm -23 <(echo "$error_cases") <(echo "$switch_cases") | tr '\n' ' ')" \
        "tests only: $(comm -13 <(echo "$error_cases") <(echo "$switch_cases") | tr '\n' ' ')"
fi
# Record fields and initialiser labels the tests use (each `Type(label:` must be a public var).
missing_fields=()
for pair in NewVehicle:plate NewVehicle:nickname NewVehicle:make NewVehicle:model VehiclePatch:colour VehiclePatch:clear \
    ProfilePatch:phone ProfilePatch:fullName ProfilePatch:email ProfilePatch:preferredLanguage ProfilePatch:clear \
    NewDocument:kind NewDocument:number NewDocument:issuedOn NewDocument:expiresOn NewDocument:vehicleId \
    DocumentPatch:clear StoreInfo:schemaVersion StoreInfo:keyVersion StoreInfo:hasProfile StoreInfo:vehicleCount \
    StoreInfo:documentCount PlateNumber:canonical PlateNumber:display PlateNumber:format PlateNumber:region; do
    type="${pair%%:*}"
    field="${pair#*:}"
    awk -v t="public struct $type:" -v f="public var $field:" \
        'index($0, t) == 1 { inside = 1 } inside && index($0, f) { found = 1 } inside && /^}/ { inside = 0 } END { exit !found }' \
        "$swift" || missing_fields+=("$type.$field")
done
if ((${#missing_fields[@]} == 0)); then
    pass "Swift: the record fields the tests construct and read exist"
else
    fail "Swift: the record fields the tests construct and read exist" "missing: ${missing_fields[*]}"
fi
missing_enum=()
for c in 'DocumentKind:driverLicence' 'DocumentKind:vehicleRegistrationCertificate' 'Language:kk' 'PlateFormat:current' \
    'PlateFormat:legacy' 'ProfileField:phone' 'ProfileField:email' 'VehicleField:model' 'VehicleField:plate' 'DocumentField:expiresOn'; do
    type="${c%%:*}"
    case_name="${c#*:}"
    awk -v t="public enum $type:" -v f="case $case_name" \
        'index($0, t) == 1 { inside = 1 } inside && $1 == "case" && $2 == substr(f, 6) { found = 1 } inside && /^}/ { inside = 0 } END { exit !found }' \
        "$swift" || missing_enum+=("$c")
done
if ((${#missing_enum[@]} == 0)); then
    pass "Swift: the enum cases the tests use exist (.driverLicence, .kk, .current, ...)"
else
    fail "Swift: the enum cases the tests use exist" "missing: ${missing_enum[*]}"
fi

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
check "build-rust.sh: 4 ABIs, release, 16 KB max page size, outputs where Gradle reads them" \
    all_in android/build-rust.sh 'arm64-v8a armeabi-v7a x86_64 x86' 'build --release' 'max-page-size=16384' \
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
