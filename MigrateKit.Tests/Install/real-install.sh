#!/usr/bin/env bash
# real-install.sh REPO OMA_ARTIFACT VMA_ARTIFACT SCRATCH — runs scripts/install-oma for real (no
# --root), with --local-db, then the OMA's own verbs as the service user against the installed
# configuration, then --uninstall --purge --local-db; and the same install and purge for the agent. Run it under `unshare -m -n`: /etc, /opt, /var and /usr are
# overlays whose changes land in SCRATCH and vanish with the namespace, MariaDB is a private one on
# the namespace's own loopback, so the machine itself is never changed.
# Exit 77: this machine cannot do it (not root, no overlayfs); the test reports that as skipped.
set -euo pipefail
repo=$1 artifact=$2 vma_artifact=$3 scratch=$4

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 77; }
ip link set lo up
for d in etc opt var usr; do
    mkdir -p "$scratch/up/$d" "$scratch/work/$d"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$scratch/up/$d,workdir=$scratch/work/$d" "/$d" \
        || { echo "overlayfs is not available here" >&2; exit 77; }
done
mkdir -p /run/mysqld
mount -t tmpfs tmpfs /run/mysqld

# The MariaDB an appliance would have: default socket, root by unix-socket authentication, port 3306.
db=$scratch/db
mkdir -p "$db"
mariadb-install-db --no-defaults --datadir="$db/data" --user=root --auth-root-authentication-method=socket \
    --skip-test-db >"$db/install.log" 2>&1 || { cat "$db/install.log" >&2; exit 1; }
mariadbd --no-defaults --datadir="$db/data" --socket=/run/mysqld/mysqld.sock --pid-file="$db/pid" \
    --port=3306 --bind-address=127.0.0.1 --user=root --log-error="$db/error.log" >/dev/null 2>&1 &
dbpid=$!
trap 'kill "$dbpid" 2>/dev/null; wait "$dbpid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do mariadb --user=root -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done

echo "== install"
"$repo/scripts/install-oma" --from "$artifact" --local-db
echo "== user: $(id migratekit)"
echo "== modes: $(stat -c '%n %a %U:%G' /etc/migratekit/oma.json /etc/migratekit/db-password /var/lib/migratekit | tr '\n' ';')"
echo "== migrate"
runuser -u migratekit -- migratekit-oma migrate 2>/dev/null
echo "== fingerprint"
runuser -u migratekit -- migratekit-oma fingerprint 2>/dev/null
echo "== pki owner: $(stat -c '%U' /var/lib/migratekit/pki)"
echo "== purge"
"$repo/scripts/install-oma" --uninstall --purge --local-db
echo "== after purge: user=$(getent passwd migratekit || echo none) opt=$(ls /opt/migratekit 2>/dev/null || echo none) etc=$(ls /etc/migratekit 2>/dev/null || echo none) database=$(mariadb --user=root -N -e "SHOW DATABASES LIKE 'migratekit'")"

echo "== vma install"
"$repo/scripts/install-vma" --from "$vma_artifact"
echo "== vma user: $(id migratekit-vma)"
echo "== vma modes: $(stat -c '%n %a %U:%G' /etc/migratekit/vma.json /var/lib/migratekit-vma | tr '\n' ';')"
echo "== vma version: $(runuser -u migratekit-vma -- migratekit-vma --version)"
"$repo/scripts/install-vma" --uninstall --purge
echo "== vma after purge: user=$(getent passwd migratekit-vma || echo none) opt=$(ls /opt/migratekit 2>/dev/null || echo none) etc=$(ls /etc/migratekit 2>/dev/null || echo none)"
