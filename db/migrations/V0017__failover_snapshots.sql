-- Failover: the OSSEA volume snapshot taken of each volume before a test failover, reverted to
-- by cleanup. Replaces the old failover_jobs.linstor_snapshot_name.
CREATE TABLE IF NOT EXISTS failover_snapshots (
    id               BIGINT      NOT NULL AUTO_INCREMENT,
    failover_job_id  CHAR(36)    NOT NULL,
    volume_id        VARCHAR(64) NOT NULL,
    snapshot_id      VARCHAR(64) NOT NULL,
    status           VARCHAR(32) NOT NULL,
    created_at       DATETIME(6) NOT NULL,
    updated_at       DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_failover_snapshots_volume (failover_job_id, volume_id),
    UNIQUE KEY ux_failover_snapshots_snapshot (snapshot_id),
    CONSTRAINT fk_failover_snapshots_job    FOREIGN KEY (failover_job_id) REFERENCES failover_jobs (id)        ON DELETE CASCADE,
    CONSTRAINT fk_failover_snapshots_volume FOREIGN KEY (volume_id)       REFERENCES ossea_volumes (volume_id) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
