-- Core: the steps of a job, in order.
CREATE TABLE IF NOT EXISTS job_steps (
    id             BIGINT       NOT NULL AUTO_INCREMENT,
    job_id         CHAR(36)     NOT NULL,
    seq            INT          NOT NULL,
    name           VARCHAR(128) NOT NULL,
    status         ENUM('running','completed','failed','skipped') NOT NULL DEFAULT 'running',
    error_message  TEXT         NULL,
    started_at     DATETIME(6)  NOT NULL,
    completed_at   DATETIME(6)  NULL,
    duration_ms    BIGINT       NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_job_steps_seq (job_id, seq),
    CONSTRAINT fk_job_steps_job FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
