-- Replication: per-job settings and scheduling (one ALTER statement: either all columns exist or none).
ALTER TABLE replication_jobs
    ADD COLUMN IF NOT EXISTS bandwidth_limit_bps        BIGINT      NULL COMMENT 'per-job limit, bytes/s; NULL = unlimited',
    ADD COLUMN IF NOT EXISTS schedule_interval_seconds  INT         NULL COMMENT 'incremental every N seconds; NULL = on demand',
    ADD COLUMN IF NOT EXISTS verify_after_sync          BOOL        NOT NULL DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS sync_requested_at          DATETIME(6) NULL COMMENT 'an operator or the schedule asked for a sync',
    ADD COLUMN IF NOT EXISTS next_sync_at               DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS last_sync_completed_at     DATETIME(6) NULL;
