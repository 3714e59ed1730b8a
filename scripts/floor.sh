#!/usr/bin/env bash
# Compares spinup's default `run` with scripts/floor/floor.c, a bare C program making the same
# syscalls in the same process shape with no instrumentation, on this machine, now. Runs
# alternate so drift hits both. Needs gcc and root.
#
# usage: scripts/floor.sh [ITERATIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-1000}
rounds=${2:-3}
cargo build --release -q
floor=$(mktemp -d)
trap 'rm -rf "$floor"' EXIT
gcc -O2 -Wall -o "$floor/floor" scripts/floor/floor.c
for r in $(seq "$rounds"); do
    c=$("$floor/floor" "$iters" 4 full | awk '/^total/ {print $2}')
    s=$(./target/release/spinup run -n "$iters" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["phases"]["total"]["wall"]["p50"] / 1000)')
    awk -v r="$r" -v c="$c" -v s="$s" 'BEGIN { printf "round %d: C floor total p50 %.1f us, spinup run total p50 %.1f us, spinup/C = %.3f\n", r, c, s, s / c }'
done
