-- Volume: every OSSEA async job the system started, with the caller's correlation id.
CREATE TABLE IF NOT EXISTS cloudstack_job_tracking (
    id                 BIGINT       NOT NULL AUTO_INCREMENT,
    cloudstack_job_id  VARCHAR(64)  NOT NULL,
    cloudstack_command VARCHAR(64)  NOT NULL,
    cloudstack_status  VARCHAR(32)  NOT NULL,
    operation_type     VARCHAR(64)  NOT NULL,
    correlation_id     CHAR(36)     NULL,
    parent_job_id      CHAR(36)     NULL,
    status             ENUM('pending','completed','failed','timed_out') NOT NULL,
    error_message      TEXT         NULL,
    result             LONGTEXT     NULL,
    created_at         DATETIME(6)  NOT NULL,
    updated_at         DATETIME(6)  NOT NULL,
    completed_at       DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_cloudstack_job_id (cloudstack_job_id),
    KEY ix_cloudstack_job_correlation (correlation_id),
    CONSTRAINT fk_cloudstack_job_parent FOREIGN KEY (parent_job_id) REFERENCES jobs (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
