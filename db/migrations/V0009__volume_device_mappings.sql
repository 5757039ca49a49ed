-- Volume: where an attached volume is (OSSEA VM, device id) and what the kernel calls it.
-- One mapping per volume and one volume per device path: a volume cannot be mounted twice.
-- RESTRICT, not CASCADE: a mapping stands for a real attachment, so the volume row can only go
-- after the volume was detached and its mapping removed.
CREATE TABLE IF NOT EXISTS device_mappings (
    id                    BIGINT       NOT NULL AUTO_INCREMENT,
    volume_id             VARCHAR(64)  NOT NULL,
    vm_id                 VARCHAR(64)  NOT NULL,
    operation_mode        ENUM('oma','failover') NOT NULL,
    cloudstack_device_id  INT          NULL,
    device_path           VARCHAR(255) NULL COMMENT 'kernel name, e.g. /dev/vdb; NULL when not on the OMA',
    stable_device_path    VARCHAR(255) NULL COMMENT 'name that survives reboots, e.g. /dev/disk/by-id/virtio-<serial>',
    cloudstack_state      VARCHAR(32)  NOT NULL,
    linux_state           VARCHAR(32)  NOT NULL,
    size                  BIGINT       NOT NULL COMMENT 'bytes',
    last_sync             DATETIME(6)  NULL,
    created_at            DATETIME(6)  NOT NULL,
    updated_at            DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY ux_device_mappings_volume (volume_id),
    UNIQUE KEY ux_device_mappings_device (device_path),
    UNIQUE KEY ux_device_mappings_vm_slot (vm_id, cloudstack_device_id),
    CONSTRAINT fk_device_mappings_volume FOREIGN KEY (volume_id) REFERENCES ossea_volumes (volume_id) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
