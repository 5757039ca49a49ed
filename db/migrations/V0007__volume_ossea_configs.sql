-- Volume: OSSEA (CloudStack) connection settings. api_key and secret_key hold ciphertext
-- (AES-GCM with the OMA's data key), never plain text, and are never returned by the API.
CREATE TABLE IF NOT EXISTS ossea_configs (
    id                   INT          NOT NULL AUTO_INCREMENT,
    name                 VARCHAR(128) NOT NULL,
    api_url              VARCHAR(512) NOT NULL,
    api_key              TEXT         NOT NULL,
    secret_key           TEXT         NOT NULL,
    domain               VARCHAR(255) NULL,
    zone                 VARCHAR(64)  NOT NULL,
    template_id          VARCHAR(64)  NULL,
    network_id           VARCHAR(64)  NULL,
    service_offering_id  VARCHAR(64)  NULL,
    disk_offering_id     VARCHAR(64)  NULL,
    oma_vm_id            VARCHAR(64)  NOT NULL,
    created_at           DATETIME(6)  NOT NULL,
    updated_at           DATETIME(6)  NOT NULL,
    is_active            BOOL         NOT NULL DEFAULT TRUE,
    PRIMARY KEY (id),
    UNIQUE KEY ux_ossea_configs_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
