-- Failover: the request's options and the step in progress, and at most one unfinished failover
-- per source VM, enforced by the database (the API answers 409). A failover stops counting once it
-- failed and was rolled back, or a test failover was cleaned up; a test VM still running, a
-- rollback or cleanup that failed, or a completed live failover keep the VM's slot taken.
ALTER TABLE failover_jobs
    ADD COLUMN IF NOT EXISTS request_options LONGTEXT     NULL CHECK (request_options IS NULL OR JSON_VALID(request_options)),
    ADD COLUMN IF NOT EXISTS current_step    VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS active_vm_key   VARCHAR(128)
        AS (IF(status IN ('failed', 'cleaned_up'), NULL, vm_id)) PERSISTENT,
    ADD UNIQUE KEY IF NOT EXISTS ux_failover_jobs_active_vm (active_vm_key);
