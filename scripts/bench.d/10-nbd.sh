#!/usr/bin/env bash
# NBD write throughput: nbdcopy a 2 GiB random image into our server (scripts/oma nbd-serve) and
# into nbdkit's file plugin, both exporting a file on the same tmpfs, same run, runs interleaved,
# best of NBD_BENCH_RUNS (default 5: the machine is shared, the best run is the least disturbed).
# Prints nbd_server_gbps, nbdkit_file_gbps and nbd_server_vs_nbdkit (GB = 10^9 bytes), and as
# "# " notes each server's CPU seconds per GiB written (median; steadier than wall time under load).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
cd "$MK_ROOT"
ensure_packages nbdkit libnbd-bin

size=$((2 * 1024 * 1024 * 1024))
runs=${NBD_BENCH_RUNS:-5}
dir=$(mktemp -d /dev/shm/mk-bench-nbd.XXXXXX)
oma_pid=
nbdkit_pid=
cleanup() {
    [ -n "$oma_pid" ] && kill "$oma_pid" 2>/dev/null && wait "$oma_pid" 2>/dev/null || true
    [ -n "$nbdkit_pid" ] && kill "$nbdkit_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# nbdkit writes its pid file from the forked daemon: wait for it.
read_pid() {
    local i
    for i in $(seq 1 100); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        sleep 0.1
    done
    mk_die "no pid file $1"
}
wait_nbd() {
    local uri=$1 i
    for i in $(seq 1 100); do
        nbdinfo --size "$uri" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    mk_die "no NBD server answered at $uri"
}
# nanoseconds for one nbdcopy run; the destinations are preallocated so every run overwrites
# resident tmpfs pages and measures the servers rather than the kernel's page zeroing.
# The server's CPU time (user + system, clock ticks) goes to $dir/cpu.<pid>.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
copy_time() {
    local uri=$1 pid=$2 start end c0 c1
    c0=$(cpu_ticks "$pid")
    start=$(date +%s%N)
    nbdcopy "$dir/src.img" "$uri"
    end=$(date +%s%N)
    c1=$(cpu_ticks "$pid")
    echo $(( c1 - c0 )) >> "$dir/cpu.$pid"
    echo $(( end - start ))
}

mk_log "writing a 2 GiB random image on tmpfs"
head -c "$size" /dev/urandom > "$dir/src.img"
fallocate -l "$size" "$dir/ours.img"
fallocate -l "$size" "$dir/nbdkit.img"

scripts/oma --help >/dev/null   # builds once, outside the timed runs
port_ours=$(free_port)
scripts/oma nbd-serve --listen "127.0.0.1:$port_ours" --export "disk=$dir/ours.img" >"$dir/oma.log" 2>&1 &
oma_pid=$!
port_nbdkit=$(free_port)
nbdkit -P "$dir/nbdkit.pid" -p "$port_nbdkit" -i 127.0.0.1 file "$dir/nbdkit.img"
nbdkit_pid=$(read_pid "$dir/nbdkit.pid")
uri_ours="nbd://127.0.0.1:$port_ours/disk"
uri_nbdkit="nbd://127.0.0.1:$port_nbdkit/"
wait_nbd "$uri_ours"
wait_nbd "$uri_nbdkit"

# One untimed copy each first: the first pass over fresh tmpfs pages costs far more than later ones.
copy_time "$uri_ours" "$oma_pid" >/dev/null
copy_time "$uri_nbdkit" "$nbdkit_pid" >/dev/null
rm -f "$dir/cpu.$oma_pid" "$dir/cpu.$nbdkit_pid"

best_ours=
best_nbdkit=
for i in $(seq 1 "$runs"); do
    t_ours=$(copy_time "$uri_ours" "$oma_pid")
    t_nbdkit=$(copy_time "$uri_nbdkit" "$nbdkit_pid")
    mk_log "run $i: ours $((t_ours / 1000000)) ms, nbdkit file $((t_nbdkit / 1000000)) ms"
    if [ -z "$best_ours" ] || [ "$t_ours" -lt "$best_ours" ]; then best_ours=$t_ours; fi
    if [ -z "$best_nbdkit" ] || [ "$t_nbdkit" -lt "$best_nbdkit" ]; then best_nbdkit=$t_nbdkit; fi
done

cmp -s "$dir/src.img" "$dir/ours.img" || mk_die "the image written through our server differs from the source"

median_cpu_per_gib() {
    local hz
    hz=$(getconf CLK_TCK)
    sort -n "$1" | awk -v hz="$hz" -v gib=$((size / 1024 / 1024 / 1024)) '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / hz / gib }'
}
echo "# nbdcopy (default: 4 connections, multi-conn advertised by both) -> ours: migratekit-oma nbd-serve; nbdkit: nbdkit file; same tmpfs"
echo "# server CPU seconds per GiB written (median of $runs): ours $(median_cpu_per_gib "$dir/cpu.$oma_pid"), nbdkit file $(median_cpu_per_gib "$dir/cpu.$nbdkit_pid")"
awk -v s="$size" -v a="$best_ours" -v b="$best_nbdkit" 'BEGIN {
    x = s / a; y = s / b;   # bytes per ns = GB/s
    printf "nbd_server_gbps: %.2f\nnbdkit_file_gbps: %.2f\nnbd_server_vs_nbdkit: %.2f\n", x, y, x / y }'
