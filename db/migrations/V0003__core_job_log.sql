-- Core: log lines written inside a job or one of its steps (never ad-hoc loggers).
CREATE TABLE IF NOT EXISTS job_log (
    id          BIGINT      NOT NULL AUTO_INCREMENT,
    job_id      CHAR(36)    NOT NULL,
    step_id     BIGINT      NULL,
    level       ENUM('debug','info','warning','error') NOT NULL,
    message     TEXT        NOT NULL,
    created_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    KEY ix_job_log_job (job_id, id),
    CONSTRAINT fk_job_log_job  FOREIGN KEY (job_id)  REFERENCES jobs (id)      ON DELETE CASCADE,
    CONSTRAINT fk_job_log_step FOREIGN KEY (step_id) REFERENCES job_steps (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
