#!/usr/bin/env bash
# Builds the Rust core for Android and generates the Kotlin bindings for the Gradle module
# in this directory (android/). Gradle runs it before `preBuild`; it can also be run by hand:
#
#   bash android/build-rust.sh            # 4 ABIs, release, + Kotlin bindings
#   bash android/build-rust.sh --check    # only check the toolchain (exit 0 or 2)
#   APARKING_ANDROID_ABIS="arm64-v8a x86_64" bash android/build-rust.sh   # a subset, faster
#
# Output, under android/build/:
#   rustJniLibs/<abi>/libaparking_core.so        (jniLibs source set of the AAR)
#   generated/uniffi/kz/aparking/core/*.kt       (Kotlin source set of the AAR)
#
# Needs: the Android NDK (r27+; found through ANDROID_NDK_HOME, ANDROID_NDK_ROOT,
# $ANDROID_HOME/ndk/<version>, $ANDROID_SDK_ROOT/ndk/<version> or the Android Studio default
# SDK location), cargo-ndk, and the four Android rustup targets. Everything missing is
# reported at once, before any build starts.
#
# Exit codes: 0 done; 2 a toolchain piece is missing (nothing was built); 1 usage error;
# anything else: the build failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

# Keep in sync with minSdk in build.gradle.kts (README.md says why 24).
min_sdk=24
# The NDK the Gradle module pins (android.ndkVersion); r27c.
ndk_version_pinned="27.2.12479018"
page_size_flag="-C link-arg=-Wl,-z,max-page-size=16384"
# Packed dynamic relocations (lld): Android's own packed format loads on API 23+, so it is the
# one minSdk 24 allows; RELR would need API 28 (with Android's tags) or 30.
relocation_flag="-C link-arg=-Wl,--pack-dyn-relocs=android"

all_abis=(arm64-v8a armeabi-v7a x86_64 x86)

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

check_only=false
for arg in "$@"; do
    case "$arg" in
        --check) check_only=true ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "build-rust.sh: unknown argument '$arg' (try --help)" >&2
            exit 1
            ;;
    esac
done

abi_triple() {
    case "$1" in
        arm64-v8a) echo aarch64-linux-android ;;
        armeabi-v7a) echo armv7-linux-androideabi ;;
        x86_64) echo x86_64-linux-android ;;
        x86) echo i686-linux-android ;;
        *) return 1 ;;
    esac
}

read -r -a abis <<<"${APARKING_ANDROID_ABIS:-${all_abis[*]}}"
triples=()
for abi in "${abis[@]}"; do
    if ! triple="$(abi_triple "$abi")"; then
        echo "build-rust.sh: unknown ABI '$abi' in APARKING_ANDROID_ABIS (known: ${all_abis[*]})" >&2
        exit 1
    fi
    triples+=("$triple")
done

log() { printf '==> %s\n' "$*"; }
warn() { printf 'build-rust.sh: warning: %s\n' "$*" >&2; }

# --- toolchain checks (cheap; nothing is built before they all pass) -----------------------

is_ndk() { [[ -f "$1/source.properties" && -d "$1/toolchains/llvm/prebuilt" ]]; }

# Newest NDK directly under $1 (an <sdk>/ndk directory holding <version>/ folders).
newest_ndk_under() {
    local dir="$1" d best=""
    [[ -d "$dir" ]] || return 1
    best="$(for d in "$dir"/*/; do
        d="${d%/}"
        if is_ndk "$d"; then echo "${d##*/}"; fi
    done | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1)"
    [[ -n "$best" ]] && echo "$dir/$best"
}

find_ndk() {
    local var dir
    for var in ANDROID_NDK_HOME ANDROID_NDK_ROOT; do
        dir="${!var:-}"
        [[ -n "$dir" ]] || continue
        if is_ndk "$dir"; then
            echo "$dir"
            return 0
        fi
        # Also accepted, as cargo-ndk does: the <sdk>/ndk directory itself.
        if newest_ndk_under "$dir"; then return 0; fi
        warn "$var=$dir is not an NDK directory (no source.properties / toolchains/llvm)"
    done
    for var in ANDROID_HOME ANDROID_SDK_ROOT; do
        dir="${!var:-}"
        [[ -n "$dir" ]] || continue
        if newest_ndk_under "$dir/ndk"; then return 0; fi
    done
    # Android Studio's default SDK locations (Linux, macOS).
    for dir in "$HOME/Android/Sdk" "$HOME/Library/Android/sdk"; do
        if newest_ndk_under "$dir/ndk"; then return 0; fi
    done
    return 1
}

ndk_major() {
    sed -n 's/^Pkg\.Revision *= *\([0-9][0-9]*\)\..*/\1/p' "$1/source.properties" | head -n 1
}

problems=()
add_problem() { problems+=("$1"); }

if ! command -v cargo >/dev/null 2>&1; then
    add_problem "Rust (cargo) is not on PATH.
      install: https://rustup.rs  (curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh)"
fi

ndk=""
if ndk="$(find_ndk)"; then
    major="$(ndk_major "$ndk")"
    if [[ -z "$major" || "$major" -lt 27 ]]; then
        warn "NDK at $ndk is r${major:-?}; r27 or newer is recommended (16 KB page sizes, the version build.gradle.kts pins)"
    fi
else
    add_problem "Android NDK not found (looked at ANDROID_NDK_HOME, ANDROID_NDK_ROOT, \$ANDROID_HOME/ndk/<version>,
      \$ANDROID_SDK_ROOT/ndk/<version>, ~/Android/Sdk/ndk, ~/Library/Android/sdk/ndk).
      install: sdkmanager --install \"ndk;${ndk_version_pinned}\"      (Android Studio: SDK Manager > SDK Tools > NDK (Side by side))
      then:    export ANDROID_HOME=<your Android SDK>   (or ANDROID_NDK_HOME=\$ANDROID_HOME/ndk/${ndk_version_pinned})"
fi

# `cargo --list` names every installed subcommand, whatever the cargo-ndk version.
if command -v cargo >/dev/null 2>&1 && ! cargo --list 2>/dev/null | awk '{print $1}' | grep -qx ndk; then
    add_problem "cargo-ndk is not installed (the 'cargo ndk' subcommand).
      install: cargo install cargo-ndk"
fi

if command -v rustup >/dev/null 2>&1; then
    installed="$(rustup target list --installed 2>/dev/null || true)"
    missing_targets=()
    for t in "${triples[@]}"; do
        grep -qx "$t" <<<"$installed" || missing_targets+=("$t")
    done
    if ((${#missing_targets[@]} > 0)); then
        add_problem "Rust targets not installed: ${missing_targets[*]}
      install: rustup target add ${missing_targets[*]}"
    fi
else
    add_problem "rustup is not on PATH, so the Android std libraries cannot be checked or installed.
      install: https://rustup.rs, then: rustup target add ${triples[*]}"
fi

if ((${#problems[@]} > 0)); then
    {
        echo "build-rust.sh: cannot build the Android libraries; missing toolchain pieces:"
        for p in "${problems[@]}"; do
            printf '  - %s\n' "$p"
        done
        echo "Nothing was built. Install the above and run again (bash android/build-rust.sh --check to re-check)."
    } >&2
    exit 2
fi

export ANDROID_NDK_HOME="$ndk"
if $check_only; then
    echo "build-rust.sh: toolchain OK (NDK $ndk, targets ${triples[*]})"
    exit 0
fi

# --- build ----------------------------------------------------------------------------------

cd "$root"
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[[ -n "$target_dir" ]] || target_dir="$root/target"

jni_dir="$here/build/rustJniLibs"
gen_dir="$here/build/generated/uniffi"

# 16 KB ELF segment alignment, required for Android 15+ devices with 16 KB pages (Google Play
# requires it for new apps and updates targeting Android 15+). cargo-ndk passes --target, so
# RUSTFLAGS reaches only the Android artefacts, not build scripts or proc-macros.
if [[ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]]; then
    warn "CARGO_ENCODED_RUSTFLAGS is set and overrides RUSTFLAGS; make sure it contains: $page_size_flag"
fi
# `rustc --crate-type cdylib`: the library alone, so that the release profile's LTO runs
# (rustc skips fat LTO when the same build makes the `lib` crate type too; docs/performance.md,
# "Library size").
log "cargo ndk rustc --release --crate-type cdylib (API $min_sdk) for: ${abis[*]}"
ndk_args=()
for abi in "${abis[@]}"; do ndk_args+=(-t "$abi"); done
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }$page_size_flag $relocation_flag" \
    cargo ndk "${ndk_args[@]}" --platform "$min_sdk" rustc --release -p aparking-core --lib --crate-type cdylib

rm -rf "$jni_dir"
readelf="$(find "$ndk/toolchains/llvm/prebuilt" -maxdepth 3 -name llvm-readelf \( -type f -o -type l \) 2>/dev/null | head -n 1 || true)"
for i in "${!abis[@]}"; do
    abi="${abis[$i]}"
    so="$target_dir/${triples[$i]}/release/libaparking_core.so"
    [[ -f "$so" ]] || {
        echo "build-rust.sh: expected $so after the build, not found" >&2
        exit 1
    }
    mkdir -p "$jni_dir/$abi"
    cp "$so" "$jni_dir/$abi/"
    if [[ -n "$readelf" ]]; then
        # Every PT_LOAD segment must be aligned to at least 16 KB (0x4000).
        for align in $("$readelf" -lW "$jni_dir/$abi/libaparking_core.so" | awk '$1 == "LOAD" { print $NF }'); do
            if ((16#${align#0x} < 16384)); then
                echo "build-rust.sh: $abi/libaparking_core.so has a LOAD segment aligned to $align, below 16 KB" >&2
                exit 1
            fi
        done
    fi
    log "$abi: $(du -h "$jni_dir/$abi/libaparking_core.so" | cut -f1)"
done

# The release profile strips symbols, and uniffi-bindgen reads the metadata from the symbol
# table ("No UniFFI metadata found"): generate the bindings from a host debug build.
log "host debug build for the Kotlin bindings"
cargo build -p aparking-core -p uniffi-bindgen
case "$(uname -s)" in
    Darwin) host_lib="$target_dir/debug/libaparking_core.dylib" ;;
    *) host_lib="$target_dir/debug/libaparking_core.so" ;;
esac
rm -rf "$gen_dir"
mkdir -p "$gen_dir"
"$target_dir/debug/uniffi-bindgen" generate --language kotlin --no-format --out-dir "$gen_dir" "$host_lib"

log "done: $jni_dir, $gen_dir"
