#!/bin/sh
# Clean release build time and binary size of faults/toxiproxy-server (the noxious-based
# Toxiproxy-API server). Sources must already be fetched (`cargo fetch --locked`); the build uses
# a fresh target directory, so nothing cached in faults/toxiproxy-server/target is reused.
#   usage: benchmarks/toxiproxy_build_time.sh
set -eu
cd "$(dirname "$0")/../faults/toxiproxy-server"
target=$(mktemp -d /tmp/toxiproxy-build.XXXXXX)
trap 'rm -rf "$target"' EXIT
cargo fetch --locked >/dev/null 2>&1
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet
end=$(date +%s.%N)
echo "clean release build: $(echo "$end - $start" | bc) s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $(stat -c %s "$target/release/toxiproxy-server") bytes (stripped)"
