#!/usr/bin/env bash
# Tunnel write throughput, same run, same tmpfs, same 2 GiB random image, interleaved, best of
# TUNNEL_BENCH_RUNS (default 3):
#   tunnel: `migratekit-vma copy` (the VMA streaming engine: the image read directly with
#           positional reads and SEEK_DATA/SEEK_HOLE, pipelined NBD writes over one tunnel stream) through a real mutual-TLS tunnel into the
#           OMA's NBD server (`migratekit-oma nbd-serve --tunnel-listen`, service "nbd"), i.e. the
#           production path of a sync; timed from process start to exit.
#   nbdkit plain / TLS: `nbdcopy` into `nbdkit file` over NBD, and over NBD with TLS (PSK).
# Then `migratekit-vma tunnel-bench` for the raw tunnel (no NBD, no disk) figures.
# Prints tunnel_gbps, nbdkit_plain_gbps, nbdkit_tls_gbps, tunnel_vs_plain_nbdkit,
# tunnel_vs_tls_nbdkit, vma_rss_mb (peak VmHWM of the copying agent),
# tunnel_vs_plain_nbdkit_ceiling (the most any user-space TLS endpoint could reach here, see below),
# tunnel_raw_gbps, tunnel_raw_4streams_gbps, and "# " comment lines. GB = 10^9 bytes.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
cd "$MK_ROOT"
ensure_dotnet
ensure_packages nbdkit libnbd-bin openssl time

size=$((2 * 1024 * 1024 * 1024))
runs=${TUNNEL_BENCH_RUNS:-3}
dir=$(mktemp -d /dev/shm/mk-bench-tunnel.XXXXXX)
oma_pid=
plain_pid=
tls_pid=
cleanup() {
    [ -n "$oma_pid" ] && kill "$oma_pid" 2>/dev/null && wait "$oma_pid" 2>/dev/null || true
    [ -n "$plain_pid" ] && kill "$plain_pid" 2>/dev/null || true
    [ -n "$tls_pid" ] && kill "$tls_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    local port=$1 i
    for i in $(seq 1 150); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.2
    done
    mk_die "nothing listens on 127.0.0.1:$port (see $dir/*.log)"
}
wait_nbd() {
    local i
    for i in $(seq 1 100); do
        nbdinfo --size "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    mk_die "no NBD server answered at $*"
}
now() { date +%s%N; }
# nbdkit writes its pid file from the forked daemon: wait for it.
read_pid() {
    local i
    for i in $(seq 1 100); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        sleep 0.1
    done
    mk_die "no pid file $1"
}

mk_log "building migratekit-oma and migratekit-vma (Release)"
scripts/oma --help >/dev/null
vma_out=$MK_ROOT/.artifacts/vma-bench
dotnet publish MigrateKit.Host/Vma/MigrateKit.Host.Vma.csproj -c Release -r linux-x64 --no-self-contained \
    --artifacts-path "$MK_ROOT/.artifacts/build-vma-bench" -o "$vma_out" -nologo -v q -clp:ErrorsOnly >&2
vma=$vma_out/migratekit-vma

mk_log "writing a 2 GiB random image on tmpfs"
head -c "$size" /dev/urandom > "$dir/src.img"
for f in tunnel plain tls; do fallocate -l "$size" "$dir/$f.img"; done

# --- OMA end: its CA is made on the first start; an agent certificate is then issued from it with
# openssl (the bench has no database for a real enrollment) and only that agent is accepted.
pki=$dir/pki
agent=$dir/agent
mkdir -p "$agent"
chmod 700 "$agent"
tunnel_port=$(free_port)
nbd_port=$(free_port)
zero_fp=$(printf '0%.0s' $(seq 1 64))
"$MK_ROOT/.artifacts/oma/migratekit-oma" nbd-serve --listen "127.0.0.1:$nbd_port" --export "disk=$dir/tunnel.img" \
    --tunnel-listen "127.0.0.1:$tunnel_port" --tunnel-pki "$pki" --tunnel-agent "$zero_fp" >"$dir/oma-init.log" 2>&1 &
oma_pid=$!
wait_port "$tunnel_port"
kill "$oma_pid"; wait "$oma_pid" 2>/dev/null || true; oma_pid=
[ -s "$pki/ca.key" ] && [ -s "$pki/ca.crt" ] || mk_die "nbd-serve made no CA in $pki"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$agent/agent.key" 2>/dev/null
chmod 600 "$agent/agent.key"
openssl req -new -key "$agent/agent.key" -subj /CN=bench-agent -out "$dir/agent.csr"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > "$dir/agent.ext"
openssl x509 -req -in "$dir/agent.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 12)" \
    -days 2 -sha256 -extfile "$dir/agent.ext" -out "$agent/agent.crt" 2>/dev/null
cp "$pki/ca.crt" "$agent/ca.crt"
agent_fp=$(openssl x509 -in "$agent/agent.crt" -noout -fingerprint -sha256 | cut -d= -f2)

"$MK_ROOT/.artifacts/oma/migratekit-oma" nbd-serve --listen "127.0.0.1:$nbd_port" --export "disk=$dir/tunnel.img" \
    --tunnel-listen "127.0.0.1:$tunnel_port" --tunnel-pki "$pki" --tunnel-agent "$agent_fp" >"$dir/oma.log" 2>&1 &
oma_pid=$!
wait_port "$tunnel_port"

# --- nbdkit peers, plain and TLS (PSK; the key never appears on a command line).
plain_port=$(free_port)
nbdkit -P "$dir/plain.pid" -p "$plain_port" -i 127.0.0.1 file "$dir/plain.img"
plain_pid=$(read_pid "$dir/plain.pid")
printf 'bench:%s\n' "$(openssl rand -hex 32)" > "$dir/keys.psk"
chmod 600 "$dir/keys.psk"
tls_port=$(free_port)
nbdkit -P "$dir/tls.pid" -p "$tls_port" -i 127.0.0.1 --tls=require --tls-psk="$dir/keys.psk" file "$dir/tls.img"
tls_pid=$(read_pid "$dir/tls.pid")
uri_plain="nbd://127.0.0.1:$plain_port/"
uri_tls="nbds://bench@127.0.0.1:$tls_port/?tls-psk-file=$dir/keys.psk"
wait_nbd "$uri_plain"
wait_nbd "$uri_tls"

# One timed copy each; the agent's peak RSS is sampled from /proc while it runs (kept in a file:
# these functions run in command substitutions).
echo 0 > "$dir/rss_kb"
# CPU ticks (user + system) of a live process; 0 once it is gone.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU per timed copy, appended as "agent_or_nbdcopy_ticks server_ticks" lines (clock ticks).
: > "$dir/cpu_tunnel"; : > "$dir/cpu_plain"
copy_tunnel() {
    local start end pid hwm rss_kb t c oma0 agent_ticks=0 child_sum=0
    declare -A child=()
    rss_kb=$(cat "$dir/rss_kb")
    oma0=$(ticks "$oma_pid")
    start=$(now)
    "$vma" copy "$dir/src.img" --export disk --oma "127.0.0.1:$tunnel_port" --state-dir "$agent" >"$dir/copy.log" 2>&1 &
    pid=$!
    # The agent's CPU and its children's (an nbdkit source, if any) are sampled every 50 ms: the last
    # sample misses at most the final 50 ms of each.
    while kill -0 "$pid" 2>/dev/null; do
        hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$hwm" ] && [ "$hwm" -gt "$rss_kb" ] && rss_kb=$hwm
        t=$(ticks "$pid"); [ "$t" -gt "$agent_ticks" ] && agent_ticks=$t
        for c in $(pgrep -P "$pid" || true); do
            t=$(ticks "$c"); [ "$t" -gt "${child[$c]:-0}" ] && child[$c]=$t
        done
        sleep 0.05
    done
    wait "$pid" || { cat "$dir/copy.log" >&2; mk_die "migratekit-vma copy failed"; }
    end=$(now)
    for c in "${!child[@]}"; do child_sum=$(( child_sum + child[$c] )); done
    echo "$(( agent_ticks + child_sum )) $(( $(ticks "$oma_pid") - oma0 ))" >> "$dir/cpu_tunnel"
    echo "$rss_kb" > "$dir/rss_kb"
    echo $(( end - start ))
}
copy_nbdcopy() {
    local start end server0 server_pid=$2 u s
    server0=$(ticks "$server_pid")
    start=$(now)
    /usr/bin/time -f "%U %S" -o "$dir/nbdcopy.time" nbdcopy "$dir/src.img" "$1"
    end=$(now)
    read -r u s < "$dir/nbdcopy.time"
    [ "$server_pid" = "$plain_pid" ] && echo "$(awk -v u="$u" -v s="$s" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%d", (u + s) * hz }') $(( $(ticks "$server_pid") - server0 ))" >> "$dir/cpu_plain"
    echo $(( end - start ))
}

# Untimed first pass each: the first write over fresh tmpfs pages costs far more than later ones.
copy_tunnel >/dev/null
copy_nbdcopy "$uri_plain" "$plain_pid" >/dev/null
copy_nbdcopy "$uri_tls" "$tls_pid" >/dev/null
: > "$dir/cpu_tunnel"; : > "$dir/cpu_plain"

best_tunnel=; best_plain=; best_tls=
for i in $(seq 1 "$runs"); do
    t_tunnel=$(copy_tunnel)
    t_plain=$(copy_nbdcopy "$uri_plain" "$plain_pid")
    t_tls=$(copy_nbdcopy "$uri_tls" "$tls_pid")
    mk_log "run $i: tunnel $((t_tunnel / 1000000)) ms, nbdkit plain $((t_plain / 1000000)) ms, nbdkit TLS $((t_tls / 1000000)) ms"
    if [ -z "$best_tunnel" ] || [ "$t_tunnel" -lt "$best_tunnel" ]; then best_tunnel=$t_tunnel; fi
    if [ -z "$best_plain" ] || [ "$t_plain" -lt "$best_plain" ]; then best_plain=$t_plain; fi
    if [ -z "$best_tls" ] || [ "$t_tls" -lt "$best_tls" ]; then best_tls=$t_tls; fi
done

cmp -s "$dir/src.img" "$dir/tunnel.img" || mk_die "the image written through the tunnel differs from the source"

echo "# tunnel path: migratekit-vma copy (VMA streaming engine) -> TLS 1.3 tunnel -> migratekit-oma nbd-serve service nbd -> tmpfs file; whole process timed"
echo "# nbdkit: nbdcopy -> nbdkit file on the same tmpfs; TLS = nbdkit --tls=require --tls-psk (nbds://)"
# Mean CPU seconds per GiB over the timed copies (ticks / CLK_TCK; size is 2 GiB).
awk -v hz="$(getconf CLK_TCK)" -v gib=$(( size / 1073741824 )) '
    FNR == 1 { f++ }
    { a[f] += $1; b[f] += $2; n[f]++ }
    END { printf "# CPU s/GiB (mean of %d timed copies): tunnel agent %.2f, OMA %.2f, sum %.2f; nbdcopy %.2f, nbdkit file %.2f, sum %.2f\n",
        n[1], a[1] / n[1] / hz / gib, b[1] / n[1] / hz / gib, (a[1] + b[1]) / n[1] / hz / gib,
        a[2] / n[2] / hz / gib, b[2] / n[2] / hz / gib, (a[2] + b[2]) / n[2] / hz / gib }' "$dir/cpu_tunnel" "$dir/cpu_plain"
awk -v s="$size" -v a="$best_tunnel" -v b="$best_plain" -v c="$best_tls" -v r="$(cat "$dir/rss_kb")" 'BEGIN {
    x = s / a; y = s / b; z = s / c;   # bytes per ns = GB/s
    printf "tunnel_gbps: %.2f\nnbdkit_plain_gbps: %.2f\nnbdkit_tls_gbps: %.2f\n", x, y, z
    printf "tunnel_vs_plain_nbdkit: %.2f\ntunnel_vs_tls_nbdkit: %.2f\nvma_rss_mb: %.0f\n", x / y, x / z, r / 1024 }'

# The ceiling for any TLS endpoint in user space (SslStream, OpenSSL, GnuTLS alike): it copies the
# plaintext into and out of the kernel exactly as the plain peers do, and encrypts and decrypts every
# byte on top. So the tunnel needs at least (CPU of nbdcopy + nbdkit file) + (AES-128-GCM, the
# negotiated suite, over the image twice, at `openssl speed` measured now on one core) of CPU time,
# spread over at best all cores. Only kernel TLS (encryption inside the kernel's copy) gets under it.
cores=$(nproc)
aes_kbps=$(openssl speed -elapsed -seconds 1 -bytes 16384 -evp aes-128-gcm 2>/dev/null | awk '$1 == "AES-128-GCM" { sub(/k$/, "", $2); print $2 }')
[ -n "$aes_kbps" ] || mk_die "openssl speed printed no AES-128-GCM figure"
awk -v hz="$(getconf CLK_TCK)" -v s="$size" -v b="$best_plain" -v k="$aes_kbps" -v n="$cores" '
    { cpu += ($1 + $2) / hz; runs++ }
    END {
        plain_cpu = cpu / runs; crypto = 2 * s / (k * 1000)
        floor = (plain_cpu + crypto) / n
        printf "# ceiling: AES-128-GCM %.2f GB/s on one core -> %.2f CPU s to encrypt and decrypt the image; plain copy %.2f CPU s in %.2f s; so a user-space TLS copy takes >= %.2f s on %d cores\n",
            k / 1e6, crypto, plain_cpu, b / 1e9, floor, n
        printf "tunnel_vs_plain_nbdkit_ceiling: %.2f\n", (b / 1e9) / floor }' "$dir/cpu_plain"

kill "$oma_pid"; wait "$oma_pid" 2>/dev/null || true; oma_pid=

# Raw tunnel (in-process OMA and agent ends, a sink service, no NBD and no disk).
best_single=0; best_multi=0
for i in $(seq 1 "$runs"); do
    result=$("$vma" tunnel-bench --bytes "$size" --streams 4 --connections 1)
    single=$(sed -n 's/^tunnel_raw_gbps: //p' <<<"$result")
    multi=$(sed -n 's/^tunnel_raw_multi_gbps: //p' <<<"$result")
    [ -n "$single" ] && [ -n "$multi" ] || mk_die "tunnel-bench printed no result: $result"
    mk_log "raw run $i: 1 stream ${single} GB/s, 4 streams ${multi} GB/s"
    best_single=$(awk -v a="$best_single" -v b="$single" 'BEGIN { print (b > a) ? b : a }')
    best_multi=$(awk -v a="$best_multi" -v b="$multi" 'BEGIN { print (b > a) ? b : a }')
done
echo "tunnel_raw_gbps: $best_single"
echo "tunnel_raw_4streams_gbps: $best_multi"
