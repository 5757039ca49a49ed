-- Replication: what a failover needs from a replicated VM (one ALTER statement: all columns or none).
-- source_vm_spec is the VMA's description of the source VM (guest OS, firmware, CPUs, memory, NICs
-- with their resolved network names and MACs) captured at every sync, so a failover can plan the
-- OSSEA VM without reaching the VMA. hold_reason/held_at pause the job's schedule while a failover
-- uses its volumes: no sync starts while hold_reason is set.
ALTER TABLE replication_jobs
    ADD COLUMN IF NOT EXISTS source_vm_spec LONGTEXT     NULL CHECK (source_vm_spec IS NULL OR JSON_VALID(source_vm_spec)),
    ADD COLUMN IF NOT EXISTS hold_reason    VARCHAR(255) NULL COMMENT 'why no sync may start (e.g. failover <id>); NULL = not held',
    ADD COLUMN IF NOT EXISTS held_at        DATETIME(6)  NULL;
