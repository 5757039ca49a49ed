-- Replication: the VMA sync a running job drives, so an OMA restart can find and resume it.
ALTER TABLE replication_jobs
    ADD COLUMN IF NOT EXISTS current_sync_id VARCHAR(128) NULL COMMENT 'VMA sync job id of the run in progress';
