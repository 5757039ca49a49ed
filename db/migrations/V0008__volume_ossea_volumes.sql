-- Volume: one row per OSSEA volume this system created.
-- volume_id is THE name of the OSSEA volume UUID in every table (device_mappings, nbd_exports,
-- volume_operations, failover snapshots); the old volume_uuid spelling is gone (see db/README.md).
CREATE TABLE IF NOT EXISTS ossea_volumes (
    id               BIGINT       NOT NULL AUTO_INCREMENT,
    volume_id        VARCHAR(64)  NOT NULL,
    volume_name      VARCHAR(255) NOT NULL,
    size             BIGINT       NOT NULL COMMENT 'bytes',
    status           VARCHAR(32)  NOT NULL,
    device_path      VARCHAR(255) NULL,
    ossea_config_id  INT          NOT NULL,
    vm_id            VARCHAR(64)  NULL COMMENT 'OSSEA VM the volume is attached to, if any',
    volume_type      VARCHAR(16)  NOT NULL DEFAULT 'DATADISK',
    disk_offering_id VARCHAR(64)  NULL,
    zone_id          VARCHAR(64)  NULL,
    created_at       DATETIME(6)  NOT NULL,
    updated_at       DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_ossea_volumes_volume_id (volume_id),
    UNIQUE KEY ux_ossea_volumes_name (ossea_config_id, volume_name),
    CONSTRAINT fk_ossea_volumes_config FOREIGN KEY (ossea_config_id) REFERENCES ossea_configs (id) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
