#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for SECONDS (default 300), printing the
# executions per second libFuzzer reports. Needs nightly Rust and cargo-fuzz
# (cargo install cargo-fuzz). A finding stops the script with the target's exit status.
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-300}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log=$(mktemp)
    echo "== $t: ${secs}s"
    if ! cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        rm -f "$log"
        exit 1
    fi
    grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)" "$log" || tail -n 3 "$log"
    rm -f "$log"
done
