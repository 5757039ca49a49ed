-- Core: the job log. Every business operation is a job with ordered steps (DESIGN rule 2).
CREATE TABLE IF NOT EXISTS jobs (
    id              CHAR(36)     NOT NULL,
    parent_job_id   CHAR(36)     NULL,
    correlation_id  CHAR(36)     NOT NULL,
    job_type        VARCHAR(64)  NOT NULL,
    operation       VARCHAR(128) NOT NULL,
    owner           VARCHAR(32)  NOT NULL,
    entity_type     VARCHAR(64)  NULL,
    entity_id       VARCHAR(128) NULL,
    status          ENUM('running','completed','failed','cancelled') NOT NULL DEFAULT 'running',
    error_message   TEXT         NULL,
    metadata        LONGTEXT     NULL CHECK (metadata IS NULL OR JSON_VALID(metadata)),
    created_at      DATETIME(6)  NOT NULL,
    started_at      DATETIME(6)  NOT NULL,
    completed_at    DATETIME(6)  NULL,
    updated_at      DATETIME(6)  NOT NULL,
    duration_ms     BIGINT       NULL,
    PRIMARY KEY (id),
    KEY ix_jobs_parent (parent_job_id),
    KEY ix_jobs_correlation (correlation_id),
    KEY ix_jobs_status_type (status, job_type),
    KEY ix_jobs_entity (entity_type, entity_id),
    KEY ix_jobs_created (created_at),
    -- A child job's history survives a pruned parent; the link is simply cleared.
    CONSTRAINT fk_jobs_parent FOREIGN KEY (parent_job_id) REFERENCES jobs (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
