# Shared helpers for the project's scripts. Source it; do not run it.
# shellcheck shell=bash

MK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MK_RUN=${MIGRATEKIT_RUN_DIR:-$MK_ROOT/.run}
mkdir -p "$MK_RUN"

mk_log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
mk_die() { mk_log "error: $*"; exit 1; }

# ensure_packages PKG... : installs the Debian packages that are missing (root, apt-get).
mk_apt_updated=
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || mk_die "missing packages ${missing[*]}; run as root or install them"
    mk_log "installing ${missing[*]}"
    if [ -z "$mk_apt_updated" ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null || mk_die "apt-get update failed"
        mk_apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || mk_die "apt-get install ${missing[*]} failed"
}

# ensure_dotnet: the .NET 10 SDK must be present (it is on the project's machines).
ensure_dotnet() {
    command -v dotnet >/dev/null || mk_die "the .NET 10 SDK (dotnet) is not on PATH"
    export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
}
