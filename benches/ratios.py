#!/usr/bin/env python3
"""Prints encrypted/plain ratios from criterion's results (target/criterion).

Run after `cargo bench --bench store`. Prints a Markdown table for docs/performance.md:
each operation's wall time and the benchmark thread's CPU time (the `cpu_` groups).
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
groups = ["insert", "lookup_by_plate", "update", "list_1000"]
groups += ["cpu_" + g for g in groups]


def median_ns(group, side):
    path = root / group / side / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns):
    return f"{ns / 1000:.1f} us" if ns < 1_000_000 else f"{ns / 1_000_000:.2f} ms"


print("| operation | plain (median) | encrypted (median) | ratio |")
print("|---|---|---|---|")
for g in groups:
    plain, enc = median_ns(g, "plain"), median_ns(g, "encrypted")
    print(f"| {g} | {fmt(plain)} | {fmt(enc)} | {enc / plain:.2f}x |")
