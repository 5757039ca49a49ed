-- Failover: current_step holds a stable step key (Failover/Run/FailoverSteps.cs), no longer the
-- label operators read, so rewording a label cannot break a failover resumed after an upgrade.
-- Rows written by older binaries hold the labels: rewrite them (forward steps, then the cleanup's
-- steps; a rollback never wrote current_step). Text that no binary wrote (a hand edit) is dropped,
-- except in a running failover: there it becomes the last step, so the recovery's undo looks at
-- everything (each undo step does only what is left). Safe to rerun: a key is left as it is.
UPDATE failover_jobs SET current_step = CASE current_step
        WHEN 'hold replication'                           THEN 'hold'
        WHEN 'snapshot volumes'                           THEN 'snapshot'
        WHEN 'inject VirtIO drivers'                      THEN 'virtio'
        WHEN 'final sync'                                 THEN 'final_sync'
        WHEN 'detach volumes from the OMA'                THEN 'detach'
        WHEN 'create VM'                                  THEN 'create_vm'
        WHEN 'attach root volume'                         THEN 'attach_root'
        WHEN 'attach data volumes'                        THEN 'attach_data'
        WHEN 'start VM'                                   THEN 'start_vm'
        WHEN 'mark replication failed over'               THEN 'mark_failed_over'
        WHEN 'stop VM'                                    THEN 'undo_stop_vm'
        WHEN 'detach volumes from the VM'                 THEN 'undo_detach'
        WHEN 'destroy VM'                                 THEN 'undo_destroy_vm'
        WHEN 'revert volumes to their snapshots'          THEN 'undo_revert'
        WHEN 'volumes back on the OMA with their exports' THEN 'undo_restore'
        WHEN 'delete snapshots'                           THEN 'undo_delete_snapshots'
        WHEN 'release replication'                        THEN 'undo_release'
        ELSE IF(status = 'running', 'mark_failed_over', NULL)
    END
WHERE current_step IS NOT NULL
  AND current_step NOT IN ('preflight', 'hold', 'snapshot', 'virtio', 'final_sync', 'detach', 'create_vm', 'attach_root',
                           'attach_data', 'start_vm', 'mark_failed_over', 'undo_stop_vm', 'undo_detach', 'undo_destroy_vm',
                           'undo_revert', 'undo_restore', 'undo_delete_snapshots', 'undo_release');

ALTER TABLE failover_jobs
    ADD CONSTRAINT IF NOT EXISTS ck_failover_jobs_current_step CHECK (current_step IS NULL OR current_step IN (
        'preflight', 'hold', 'snapshot', 'virtio', 'final_sync', 'detach', 'create_vm', 'attach_root', 'attach_data', 'start_vm',
        'mark_failed_over', 'undo_stop_vm', 'undo_detach', 'undo_destroy_vm', 'undo_revert', 'undo_restore', 'undo_delete_snapshots',
        'undo_release'));
