-- Core: admin API tokens. Only a SHA-256 hash is stored; the token is shown once at creation.
CREATE TABLE IF NOT EXISTS admin_tokens (
    id            INT          NOT NULL AUTO_INCREMENT,
    name          VARCHAR(128) NOT NULL,
    token_hash    CHAR(64)     NOT NULL,
    token_prefix  VARCHAR(16)  NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    last_used_at  DATETIME(6)  NULL,
    revoked_at    DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_admin_tokens_name (name),
    UNIQUE KEY ux_admin_tokens_hash (token_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
