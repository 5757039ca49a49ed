-- Replication: audit trail of CBT change ids per disk and sync.
CREATE TABLE IF NOT EXISTS cbt_history (
    id                  BIGINT       NOT NULL AUTO_INCREMENT,
    job_id              CHAR(36)     NOT NULL,
    vm_disk_id          BIGINT       NOT NULL,
    disk_id             VARCHAR(64)  NOT NULL,
    sync_type           ENUM('full','incremental') NOT NULL,
    previous_change_id  VARCHAR(255) NULL,
    change_id           VARCHAR(255) NOT NULL,
    bytes_transferred   BIGINT       NOT NULL DEFAULT 0,
    extents_copied      BIGINT       NOT NULL DEFAULT 0,
    reason              VARCHAR(255) NULL COMMENT 'why, e.g. a full copy after vCenter rejected the change id',
    sync_job_id         CHAR(36)     NULL COMMENT 'job log entry of the sync',
    created_at          DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY ix_cbt_history_disk (vm_disk_id, id),
    CONSTRAINT fk_cbt_history_job  FOREIGN KEY (job_id)      REFERENCES replication_jobs (id) ON DELETE CASCADE,
    CONSTRAINT fk_cbt_history_disk FOREIGN KEY (vm_disk_id)  REFERENCES vm_disks (id)         ON DELETE CASCADE,
    CONSTRAINT fk_cbt_history_sync FOREIGN KEY (sync_job_id) REFERENCES jobs (id)             ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
