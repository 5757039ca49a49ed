-- Replication: per-disk state of the sync in progress (one ALTER statement: all columns or none).
ALTER TABLE vm_disks
    ADD COLUMN IF NOT EXISTS sync_checkpoint  BIGINT       NOT NULL DEFAULT 0 COMMENT 'bytes below this are durable on the target for the current snapshot',
    ADD COLUMN IF NOT EXISTS nbd_export_name  VARCHAR(255) NULL COMMENT 'the OMA NBD export the VMA writes this disk into',
    ADD COLUMN IF NOT EXISTS full_copy_reason VARCHAR(255) NULL COMMENT 'why the sync in progress copies the whole disk (e.g. CBT reset)',
    ADD COLUMN IF NOT EXISTS extents_synced   BIGINT       NOT NULL DEFAULT 0;
