-- Replication: ranges a verification found different between source and target. The next sync of
-- the disk copies them in addition to what CBT reports, then clears the column.
ALTER TABLE vm_disks
    ADD COLUMN IF NOT EXISTS verify_mismatch_ranges LONGTEXT NULL COMMENT '[{offset, length}] to recopy'
        CHECK (verify_mismatch_ranges IS NULL OR JSON_VALID(verify_mismatch_ranges));
