#!/usr/bin/env bash
# The full benchmark: `spinup bench` (results/<date>-<host>-<kernel>/ and the index), then the
# criterion benches. Run as root on the machine to measure; on bare metal for publication.
#
# usage: scripts/bench.sh [spinup bench options...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
./target/release/spinup bench "$@"
cargo bench -p spinup-benches
