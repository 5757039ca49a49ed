-- Agents: enrolled VMA agents. A tunnel is accepted only from a row here that is not revoked.
CREATE TABLE IF NOT EXISTS vma_agents (
    id                   INT          NOT NULL AUTO_INCREMENT,
    name                 VARCHAR(128) NOT NULL,
    cert_fingerprint     CHAR(64)     NOT NULL,
    cert_serial          VARCHAR(64)  NOT NULL,
    cert_not_after       DATETIME(6)  NOT NULL,
    enrolled_at          DATETIME(6)  NOT NULL,
    revoked_at           DATETIME(6)  NULL,
    last_seen_at         DATETIME(6)  NULL,
    last_remote_address  VARCHAR(128) NULL,
    agent_version        VARCHAR(64)  NULL,
    created_at           DATETIME(6)  NOT NULL,
    updated_at           DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_vma_agents_name (name),
    UNIQUE KEY ux_vma_agents_fingerprint (cert_fingerprint),
    UNIQUE KEY ux_vma_agents_serial (cert_serial)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
