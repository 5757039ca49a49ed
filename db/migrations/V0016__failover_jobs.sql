-- Failover: test and live failovers. destination_vm_id is written the moment OSSEA reports the
-- VM created (DESIGN rule 7) so cleanup can always find it.
-- The old linstor_snapshot_name column is deliberately gone: Linstor is not used any more; the
-- OSSEA volume snapshots a test failover takes are rows of failover_snapshots (V0017).
CREATE TABLE IF NOT EXISTS failover_jobs (
    id                  CHAR(36)     NOT NULL,
    replication_job_id  CHAR(36)     NOT NULL,
    vm_id               VARCHAR(128) NOT NULL COMMENT 'source VM id (vCenter)',
    job_type            ENUM('test','live') NOT NULL,
    status              VARCHAR(32)  NOT NULL,
    destination_vm_id   VARCHAR(64)  NULL,
    network_mappings    LONGTEXT     NULL CHECK (network_mappings IS NULL OR JSON_VALID(network_mappings)),
    error_message       TEXT         NULL,
    created_at          DATETIME(6)  NOT NULL,
    updated_at          DATETIME(6)  NOT NULL,
    started_at          DATETIME(6)  NULL,
    completed_at        DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY ix_failover_jobs_replication (replication_job_id),
    KEY ix_failover_jobs_destination (destination_vm_id),
    CONSTRAINT fk_failover_jobs_replication FOREIGN KEY (replication_job_id) REFERENCES replication_jobs (id) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
