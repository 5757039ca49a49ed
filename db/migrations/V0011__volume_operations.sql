-- Volume: an audit row per volume command (request, response, error, timings).
-- volume_id has no foreign key on purpose: the record of a delete must outlive the volume.
CREATE TABLE IF NOT EXISTS volume_operations (
    id              CHAR(36)     NOT NULL,
    type            VARCHAR(32)  NOT NULL,
    status          ENUM('pending','running','completed','failed') NOT NULL,
    volume_id       VARCHAR(64)  NULL,
    vm_id           VARCHAR(64)  NULL,
    request         LONGTEXT     NOT NULL CHECK (JSON_VALID(request)),
    response        LONGTEXT     NULL CHECK (response IS NULL OR JSON_VALID(response)),
    error           TEXT         NULL,
    job_id          CHAR(36)     NULL,
    correlation_id  CHAR(36)     NULL,
    created_at      DATETIME(6)  NOT NULL,
    updated_at      DATETIME(6)  NOT NULL,
    completed_at    DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY ix_volume_operations_volume (volume_id),
    KEY ix_volume_operations_created (created_at),
    CONSTRAINT fk_volume_operations_job FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
