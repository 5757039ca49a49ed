-- Volume: the NBD export of an attached volume. It refers to the mapping (not just the volume):
-- an export needs a device, and the mapping cannot be removed while its export exists.
CREATE TABLE IF NOT EXISTS nbd_exports (
    id           BIGINT       NOT NULL AUTO_INCREMENT,
    volume_id    VARCHAR(64)  NOT NULL,
    export_name  VARCHAR(255) NOT NULL,
    device_path  VARCHAR(255) NOT NULL,
    port         INT          NOT NULL DEFAULT 10809,
    status       VARCHAR(32)  NOT NULL,
    metadata     LONGTEXT     NULL CHECK (metadata IS NULL OR JSON_VALID(metadata)),
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_nbd_exports_volume (volume_id),
    UNIQUE KEY ux_nbd_exports_name (export_name),
    CONSTRAINT fk_nbd_exports_mapping FOREIGN KEY (volume_id) REFERENCES device_mappings (volume_id) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
