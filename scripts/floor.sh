#!/usr/bin/env bash
# Compares spinup's default `run` with scripts/floor/floor.c, a bare C program making the same
# syscalls in the same process shape with no instrumentation, on this machine, now. Short runs
# alternate so the drift of a shared machine hits both; the median of the per-round ratios is
# the figure. Needs gcc and root.
#
# usage: scripts/floor.sh [ITERATIONS_PER_ROUND] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-300}
rounds=${2:-10}
cargo build --release -q
floor=$(mktemp -d)
trap 'rm -rf "$floor"' EXIT
gcc -O2 -Wall -o "$floor/floor" scripts/floor/floor.c
: >"$floor/ratios"
for r in $(seq "$rounds"); do
    c=$("$floor/floor" "$iters" 4 full | awk '/^total/ {print $2}')
    s=$(./target/release/spinup run -n "$iters" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["phases"]["total"]["wall"]["p50"] / 1000)')
    awk -v r="$r" -v c="$c" -v s="$s" 'BEGIN { printf "round %2d: C floor total p50 %7.1f us, spinup %7.1f us, spinup/C %.3f\n", r, c, s, s / c }'
    awk -v c="$c" -v s="$s" 'BEGIN { print s / c }' >>"$floor/ratios"
done
sort -n "$floor/ratios" | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "median spinup/C over %d rounds: %.3f (min %.3f, max %.3f)\n", NR, m, a[1], a[NR] }'
