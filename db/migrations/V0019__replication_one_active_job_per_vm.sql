-- Replication: at most one live job per source VM, enforced by the database (the API answers 409).
-- A job stops counting once it is cancelled or the VM has been failed over for good.
ALTER TABLE replication_jobs
    ADD COLUMN IF NOT EXISTS active_vm_key VARCHAR(128)
        AS (IF(status IN ('cancelled', 'failed_over'), NULL, source_vm_id)) PERSISTENT,
    ADD UNIQUE KEY IF NOT EXISTS ux_replication_jobs_active_vm (active_vm_key);
