-- Replication: the disks of a replicated VM. disk_change_id is the CBT change id of the last
-- completed sync of this disk (DESIGN rule 5), never kept in a temp file.
CREATE TABLE IF NOT EXISTS vm_disks (
    id                     BIGINT        NOT NULL AUTO_INCREMENT,
    job_id                 CHAR(36)      NOT NULL,
    disk_id                VARCHAR(64)   NOT NULL COMMENT 'vCenter virtual device key',
    vmdk_path              VARCHAR(1024) NOT NULL,
    size_gb                INT           NOT NULL,
    datastore              VARCHAR(255)  NULL,
    unit_number            INT           NULL,
    label                  VARCHAR(255)  NULL,
    capacity_bytes         BIGINT        NOT NULL,
    provisioning_type      VARCHAR(32)   NULL,
    ossea_volume_id        BIGINT        NULL,
    disk_change_id         VARCHAR(255)  NULL,
    sync_status            VARCHAR(32)   NOT NULL DEFAULT 'pending',
    sync_progress_percent  DECIMAL(5,2)  NOT NULL DEFAULT 0,
    bytes_synced           BIGINT        NOT NULL DEFAULT 0,
    created_at             DATETIME(6)   NOT NULL,
    updated_at             DATETIME(6)   NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_vm_disks_job_disk (job_id, disk_id),
    UNIQUE KEY ux_vm_disks_volume (ossea_volume_id),
    CONSTRAINT fk_vm_disks_job    FOREIGN KEY (job_id)          REFERENCES replication_jobs (id) ON DELETE CASCADE,
    -- The Volume module owns ossea_volumes and may delete a volume row it was told to delete;
    -- the disk then simply has no volume (the next run creates one).
    CONSTRAINT fk_vm_disks_volume FOREIGN KEY (ossea_volume_id) REFERENCES ossea_volumes (id)    ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
