#!/usr/bin/env bash
# Raw TLS tunnel throughput: `migratekit-vma tunnel-bench` runs a real OMA tunnel server and an agent
# client on 127.0.0.1 in one process and streams 2 GiB into a sink service over one stream, then over
# 4 streams (one TLS connection). Best of TUNNEL_BENCH_RUNS (default 3).
# Prints tunnel_raw_gbps (1 stream), tunnel_raw_4streams_gbps, vma_rss_mb (peak VmHWM of the bench
# process, which holds both tunnel ends). GB = 10^9 bytes.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
cd "$MK_ROOT"
ensure_dotnet

runs=${TUNNEL_BENCH_RUNS:-3}
bytes=$((2 * 1024 * 1024 * 1024))
out=$MK_ROOT/.artifacts/vma-bench
mk_log "building migratekit-vma (Release) into $out"
dotnet publish MigrateKit.Host/Vma/MigrateKit.Host.Vma.csproj -c Release -o "$out" -nologo -v q -clp:ErrorsOnly >&2

best_single=0; best_multi=0; peak_rss=0
for i in $(seq 1 "$runs"); do
    result=$("$out/migratekit-vma" tunnel-bench --bytes "$bytes" --streams 4 --connections 1)
    single=$(sed -n 's/^tunnel_raw_gbps: //p' <<<"$result")
    multi=$(sed -n 's/^tunnel_raw_multi_gbps: //p' <<<"$result")
    rss=$(sed -n 's/^vma_rss_mb: //p' <<<"$result")
    [ -n "$single" ] && [ -n "$multi" ] && [ -n "$rss" ] || mk_die "tunnel-bench printed no result: $result"
    mk_log "run $i: 1 stream ${single} GB/s, 4 streams ${multi} GB/s, peak RSS ${rss} MB"
    best_single=$(awk -v a="$best_single" -v b="$single" 'BEGIN { print (b > a) ? b : a }')
    best_multi=$(awk -v a="$best_multi" -v b="$multi" 'BEGIN { print (b > a) ? b : a }')
    peak_rss=$(awk -v a="$peak_rss" -v b="$rss" 'BEGIN { print (b > a) ? b : a }')
done

echo "tunnel_raw_gbps: $best_single"
echo "tunnel_raw_4streams_gbps: $best_multi"
echo "vma_rss_mb: $peak_rss"
