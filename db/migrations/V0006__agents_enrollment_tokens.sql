-- Agents: one-time enrollment tokens (hash only), each naming the agent it enrolls.
CREATE TABLE IF NOT EXISTS vma_enrollment_tokens (
    id                INT          NOT NULL AUTO_INCREMENT,
    agent_name        VARCHAR(128) NOT NULL,
    token_hash        CHAR(64)     NOT NULL,
    created_at        DATETIME(6)  NOT NULL,
    expires_at        DATETIME(6)  NOT NULL,
    used_at           DATETIME(6)  NULL,
    used_by_agent_id  INT          NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_vma_enrollment_tokens_hash (token_hash),
    CONSTRAINT fk_enrollment_agent FOREIGN KEY (used_by_agent_id) REFERENCES vma_agents (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
