# Shared steps of scripts/install-oma and scripts/install-vma. Source it after common.sh; do not run it.
# shellcheck shell=bash
#
# Every target path is written through mki_path, so `--root DIR` installs into a staging tree. In a
# staging root nothing touches the host: user and group changes, chown/chgrp, systemctl and MariaDB
# commands are printed to stdout as "would run: …" instead (that is how the tests check them).
# On a real system without systemd as PID 1 (containers), systemctl calls are printed as
# "skipped (systemd is not running): …".

MKI_ROOT=
MKI_UNINSTALL=
MKI_PURGE=
MKI_FROM=
MKI_START=

mki_staged() { [ -n "$MKI_ROOT" ]; }
mki_path() { printf '%s%s' "$MKI_ROOT" "$1"; }
mki_say() { printf '%s\n' "$*"; }

# mki_host CMD…: a command that changes the host outside the installed files (users, ownership).
mki_host() {
    if mki_staged; then mki_say "would run: $*"; else "$@"; fi
}

mki_systemd_running() { ! mki_staged && [ -d /run/systemd/system ]; }

mki_systemctl() {
    if mki_staged; then mki_say "would run: systemctl $*"
    elif mki_systemd_running; then systemctl "$@"
    else mki_say "skipped (systemd is not running): systemctl $*"
    fi
}

# mki_parse_common ARGS…: the options both installers share; unknown ones are left in MKI_REST.
MKI_REST=()
mki_parse_common() {
    MKI_REST=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --root) [ $# -ge 2 ] || mk_die "--root needs a directory"; MKI_ROOT=$2; shift 2 ;;
            --root=*) MKI_ROOT=${1#--root=}; shift ;;
            --from) [ $# -ge 2 ] || mk_die "--from needs a path"; MKI_FROM=$2; shift 2 ;;
            --from=*) MKI_FROM=${1#--from=}; shift ;;
            --uninstall) MKI_UNINSTALL=1; shift ;;
            --purge) MKI_PURGE=1; shift ;;
            --start) MKI_START=1; shift ;;
            *) MKI_REST+=("$1"); shift ;;
        esac
    done
    if [ -n "$MKI_PURGE" ] && [ -z "$MKI_UNINSTALL" ]; then mk_die "--purge only goes with --uninstall"; fi
    if mki_staged; then
        mkdir -p "$MKI_ROOT" || mk_die "cannot create the staging root $MKI_ROOT"
        MKI_ROOT=$(cd "$MKI_ROOT" && pwd)
        [ "$MKI_ROOT" != / ] || MKI_ROOT=
    fi
    case " ${MKI_REST[*]-} " in *" -h "*|*" --help "*) return 0 ;; esac
    if ! mki_staged && [ "$(id -u)" != 0 ]; then
        mk_die "installing on this system needs root (or use --root DIR to stage the install)"
    fi
}

# mki_version BINARY: the version the binary reports; it must look like one.
mki_version() {
    local v
    v=$("$1" --version 2>/dev/null | tr -d '[:space:]') || mk_die "$1 --version failed (is it a linux-x64 build?)"
    [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || mk_die "$1 --version printed '$v', not a version"
    printf '%s' "$v"
}

# mki_user NAME HOME [GROUP…]: a system user with its own group, no login shell, home = its data
# directory (not created here). Supplementary groups are added when missing.
mki_user() {
    local user=$1 home=$2 g; shift 2
    if mki_staged || ! getent passwd "$user" >/dev/null; then
        mki_host useradd --system --user-group --home-dir "$home" --no-create-home --shell /usr/sbin/nologin "$user"
    fi
    for g in "$@"; do
        if mki_staged || ! id -nG "$user" | tr ' ' '\n' | grep -qx "$g"; then
            mki_host usermod --append --groups "$g" "$user"
        fi
    done
}

# mki_dir PATH MODE OWNER:GROUP: creates it if missing and (re)applies mode and ownership.
mki_dir() {
    local p; p=$(mki_path "$1")
    mkdir -p "$p"
    chmod "$2" "$p"
    if [ "$3" != root:root ]; then mki_host chown "$3" "$1"; fi
}

# mki_write_if_absent PATH MODE OWNER:GROUP < CONTENT: configuration is the operator's once written.
mki_write_if_absent() {
    local p tmp; p=$(mki_path "$1")
    if [ -e "$p" ]; then
        cat >/dev/null
        mki_say "kept existing $1"
        return 0
    fi
    mkdir -p "$(dirname "$p")"
    tmp=$(mktemp "$p.XXXXXX")
    chmod "$2" "$tmp"
    cat >"$tmp"
    mv "$tmp" "$p"
    if [ "$3" != root:root ]; then mki_host chown "$3" "$1"; fi
    mki_say "wrote $1"
}

# mki_install_version SRC COMPONENT VERSION: copies SRC (a directory's contents, or one executable
# file) into /opt/migratekit/COMPONENT/VERSION and points `current` at it. The version directory is
# built beside its final name and renamed, and `current` is replaced by rename, so a running
# service never sees a half-copied tree. Keeps the previous version for a rollback, drops older ones.
MKI_CHANGED=
mki_install_version() {
    local src=$1 comp=$2 version=$3 base old tmp v
    base=$(mki_path "/opt/migratekit/$comp")
    mkdir -p "$base"
    chmod 0755 "$(mki_path /opt/migratekit)" "$base"
    old=$(readlink "$base/current" 2>/dev/null || true)
    tmp=$(mktemp -d "$base/.$version.XXXXXX")
    if [ -d "$src" ]; then cp -R "$src/." "$tmp/"; else cp "$src" "$tmp/"; fi
    chmod -R u=rwX,go=rX "$tmp"
    find "$tmp" -maxdepth 1 -type f -name "migratekit-$comp" -exec chmod 0755 {} +
    if [ -d "$base/$version" ] && diff -rq "$tmp" "$base/$version" >/dev/null 2>&1; then
        rm -rf "$tmp"
    else
        rm -rf "${base:?}/$version.old"
        if [ -d "$base/$version" ]; then mv "$base/$version" "$base/$version.old"; fi
        mv "$tmp" "$base/$version"
        rm -rf "${base:?}/$version.old"
        MKI_CHANGED=1
    fi
    if [ "$old" != "$version" ]; then
        ln -sfn "$version" "$base/current.new"
        mv -T "$base/current.new" "$base/current"
        MKI_CHANGED=1
    fi
    for v in "$base"/*; do
        [ -d "$v" ] && [ ! -L "$v" ] || continue
        case "$(basename "$v")" in "$version"|"$old") ;; *) rm -rf "$v"; mki_say "removed old version $(basename "$v")" ;; esac
    done
    mkdir -p "$(mki_path /usr/local/bin)"
    ln -sfn "/opt/migratekit/$comp/current/migratekit-$comp" "$(mki_path "/usr/local/bin/migratekit-$comp")"
    mki_say "installed /opt/migratekit/$comp/$version (current -> $version${old:+, was $old})"
}

# mki_unit NAME < CONTENT: the unit belongs to the installer and is rewritten every time; local
# changes go into a drop-in (systemctl edit NAME).
mki_unit() {
    local p; p=$(mki_path "/etc/systemd/system/$1")
    mkdir -p "$(dirname "$p")"
    local tmp; tmp=$(mktemp "$p.XXXXXX")
    cat >"$tmp"
    chmod 0644 "$tmp"
    if [ -f "$p" ] && cmp -s "$tmp" "$p"; then
        rm -f "$tmp"
        mki_say "unchanged /etc/systemd/system/$1"
    else
        mv "$tmp" "$p"
        MKI_CHANGED=1
        mki_say "wrote /etc/systemd/system/$1"
    fi
}

# mki_activate UNIT START: daemon-reload and enable; restart when something changed and the unit
# runs (an upgrade), start when START is set, otherwise leave it stopped for the operator.
mki_activate() {
    local unit=$1 start=$2
    mki_systemctl daemon-reload
    mki_systemctl enable "$unit"
    if [ -n "$start" ]; then
        if [ -n "$MKI_CHANGED" ]; then mki_systemctl restart "$unit"; else mki_systemctl start "$unit"; fi
    elif [ -n "$MKI_CHANGED" ]; then
        mki_systemctl try-restart "$unit"
    fi
}

# mki_remove_component UNIT COMPONENT: stop, disable and delete the unit, binaries and symlink.
mki_remove_component() {
    local unit=$1 comp=$2
    if mki_staged || [ -f "/etc/systemd/system/$unit" ]; then
        mki_systemctl disable --now "$unit"
    fi
    rm -f "$(mki_path "/etc/systemd/system/$unit")"
    rm -rf "$(mki_path "/etc/systemd/system/$unit.d")"
    mki_systemctl daemon-reload
    rm -rf "$(mki_path "/opt/migratekit/$comp")"
    rmdir "$(mki_path /opt/migratekit)" 2>/dev/null || true
    local link; link=$(mki_path "/usr/local/bin/migratekit-$comp")
    if [ -L "$link" ]; then rm -f "$link"; fi
    mki_say "removed $unit and /opt/migratekit/$comp"
}

# mki_purge_user USER: the last step of a purge.
mki_purge_user() {
    if mki_staged || getent passwd "$1" >/dev/null; then mki_host userdel "$1"; fi
    if ! mki_staged && getent group "$1" >/dev/null; then groupdel "$1" 2>/dev/null || true; fi
}

# mki_prune_staging: in a staging root the skeleton directories (etc, var/lib, usr/local/bin, …) are
# the installer's own, so a purge removes the empty ones; on a real system they are left alone.
mki_prune_staging() {
    if mki_staged; then find "$MKI_ROOT" -mindepth 1 -depth -type d -empty -delete; fi
    rmdir "$(mki_path /etc/migratekit)" 2>/dev/null || true
}
