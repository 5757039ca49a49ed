-- Every state column MigrateKit owns takes only the states its code knows: a typo in a write, or a
-- row from a newer binary that a downgrade cannot read, fails loudly at the statement instead of
-- leaving a job that no worker picks up. The lists match the constants' All sets (Contracts/*.cs);
-- StateConstraintTests keeps them equal. Columns that hold OSSEA's own vocabulary
-- (ossea_volumes.status, device_mappings.cloudstack_state, cloudstack_job_tracking.cloudstack_status)
-- stay open: OSSEA may report states this release has never seen.
ALTER TABLE replication_jobs
    ADD CONSTRAINT IF NOT EXISTS ck_replication_jobs_status
        CHECK (status IN ('pending', 'replicating', 'idle', 'failed', 'cancelled', 'failed_over'));

ALTER TABLE vm_disks
    ADD CONSTRAINT IF NOT EXISTS ck_vm_disks_sync_status
        CHECK (sync_status IN ('pending', 'syncing', 'completed', 'interrupted', 'failed', 'cbt-reset'));

ALTER TABLE failover_jobs
    ADD CONSTRAINT IF NOT EXISTS ck_failover_jobs_status
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'rollback_failed', 'cleaning_up', 'cleaned_up', 'cleanup_failed'));

ALTER TABLE failover_snapshots
    ADD CONSTRAINT IF NOT EXISTS ck_failover_snapshots_status
        CHECK (status IN ('created', 'reverted', 'unused', 'deleted'));

ALTER TABLE device_mappings
    ADD CONSTRAINT IF NOT EXISTS ck_device_mappings_linux_state
        CHECK (linux_state IN ('present', 'missing', 'not-local'));

ALTER TABLE nbd_exports
    ADD CONSTRAINT IF NOT EXISTS ck_nbd_exports_status
        CHECK (status IN ('active'));
