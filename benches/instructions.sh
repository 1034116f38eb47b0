#!/usr/bin/env bash
# Instructions per store operation, encrypted against plain (issue #14, points 1 and 2):
# runs the `store` bench binary under `valgrind --tool=callgrind` once with no operation
# (the set-up only) and once per operation repeated `COUNT` times (default 2,000; 20 for the list of 1,000), and
# prints the difference divided by the count as a Markdown table. Instruction counts do not
# depend on the machine's load. valgrind hides CPU features it does not emulate, so ring may
# take a slower path than it does natively (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-2000}
command -v valgrind > /dev/null || { echo "instructions: valgrind not found" >&2; exit 1; }
cargo bench --locked --bench store --no-run 2> /tmp/aparking-bench-build.log || {
    cat /tmp/aparking-bench-build.log >&2; exit 1; }
bin=$(sed -n 's/.*Executable .*(\(.*\)).*/\1/p' /tmp/aparking-bench-build.log | grep /store- | tail -n 1)
[ -x "$bin" ] || { echo "instructions: bench binary not found" >&2; exit 1; }

instructions() { # operation count
    APARKING_BENCH_REPEAT="$1 $2" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# The set-up (two stores of 1,000 vehicles) is the same for every operation: counted once.
base=$(instructions lookup_plain 0)
per_op() { # operation count
    local full
    full=$(instructions "$1" "$2")
    echo $(( (full - base) / $2 ))
}

echo "| operation | plain (instructions) | encrypted (instructions) | ratio |"
echo "|---|---|---|---|"
for op in lookup list update insert; do
    n=$count
    [ "$op" = list ] && n=$(( count / 100 > 0 ? count / 100 : 1 ))
    plain=$(per_op "${op}_plain" "$n")
    enc=$(per_op "${op}_encrypted" "$n")
    python3 -c "import sys; p,e=int(sys.argv[2]),int(sys.argv[3]); print(f'| {sys.argv[1]} | {p:,} | {e:,} | {e/p:.2f}x |')" "$op" "$plain" "$enc"
done
