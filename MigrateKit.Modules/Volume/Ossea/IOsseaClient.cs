namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// The CloudStack API calls MigrateKit needs, typed. Internal to the Volume module (DESIGN rule 1).
/// Async commands wait for their job (<see cref="OsseaJobTimeoutException"/> past the deadline) and
/// are reported to the <see cref="IOsseaJobRecorder"/> with the given <see cref="OsseaOperation"/>.
/// Failures are <see cref="OsseaApiException"/>.
/// </summary>
/// <remarks>
/// Retries: read-only calls repeat after any transient failure; every call repeats after 429/502/503/504
/// or a connection that never opened (see <see cref="OsseaErrorCodes.IsTransient"/>). A state-changing
/// call whose answer was lost (timeout, broken connection) is never resent blindly: create, attach,
/// detach and delete look at OSSEA's state first and resend only when it shows nothing happened; the
/// others (resize, snapshot revert/delete, start/stop/destroy) throw with
/// <see cref="OsseaApiException.OutcomeUnknown"/> so the caller checks before deciding.
/// </remarks>
internal interface IOsseaClient
{
    /// <summary>The zone of this client's config.</summary>
    string Zone { get; }

    /// <summary>listZones for the configured zone: checks URL, credentials, signature and zone in one call.</summary>
    Task<OsseaConnectionCheck> TestConnectionAsync(CancellationToken cancellationToken);

    Task<IReadOnlyList<OsseaZone>> ListZonesAsync(string? id, string? name, CancellationToken cancellationToken);

    Task<IReadOnlyList<OsseaVolume>> ListVolumesAsync(OsseaVolumeQuery query, CancellationToken cancellationToken);

    /// <summary>listVolumes by id; null when OSSEA does not know the volume.</summary>
    Task<OsseaVolume?> GetVolumeAsync(string volumeId, CancellationToken cancellationToken);

    /// <summary>
    /// createVolume. If the answer is lost (timeout, broken connection) the volume may exist anyway:
    /// the client then lists volumes by name and uses the one it finds instead of creating a second
    /// one; only when none exists does it send createVolume again. So names must be unique.
    /// </summary>
    Task<OsseaVolume> CreateVolumeAsync(OsseaCreateVolume request, OsseaOperation operation, CancellationToken cancellationToken);

    /// <param name="deviceId">Null lets OSSEA choose (lowest free, 3 skipped); 0 attaches as the ROOT disk of a stopped VM.</param>
    Task<OsseaVolume> AttachVolumeAsync(string volumeId, string virtualMachineId, long? deviceId, OsseaOperation operation, CancellationToken cancellationToken);

    Task<OsseaVolume> DetachVolumeAsync(string volumeId, OsseaOperation operation, CancellationToken cancellationToken);

    /// <summary>deleteVolume (a synchronous command). OSSEA refuses an attached volume with 431.</summary>
    Task DeleteVolumeAsync(string volumeId, CancellationToken cancellationToken);

    Task<OsseaVolume> ResizeVolumeAsync(string volumeId, long sizeGb, bool shrinkOk, OsseaOperation operation, CancellationToken cancellationToken);

    /// <summary>createSnapshot of one volume; same lost-answer handling as <see cref="CreateVolumeAsync"/> (by name and volume).</summary>
    Task<OsseaSnapshot> CreateSnapshotAsync(string volumeId, string name, OsseaOperation operation, CancellationToken cancellationToken);

    /// <summary>revertSnapshot: the volume must be detached or its VM stopped.</summary>
    Task<OsseaSnapshot> RevertSnapshotAsync(string snapshotId, OsseaOperation operation, CancellationToken cancellationToken);

    Task DeleteSnapshotAsync(string snapshotId, OsseaOperation operation, CancellationToken cancellationToken);

    Task<IReadOnlyList<OsseaSnapshot>> ListSnapshotsAsync(string? id, string? volumeId, string? name, CancellationToken cancellationToken);

    /// <summary>deployVirtualMachine; same lost-answer handling as <see cref="CreateVolumeAsync"/> (by name).</summary>
    /// <param name="onVmId">Told the new VM's id as soon as the deploy job starts (before the VM runs), so the
    /// caller can record it for removal should the deploy fail; null when nobody needs it.</param>
    Task<OsseaVirtualMachine> DeployVirtualMachineAsync(
        OsseaDeployVirtualMachine request, OsseaOperation operation, Func<string, CancellationToken, Task>? onVmId, CancellationToken cancellationToken);

    Task<OsseaVirtualMachine> StartVirtualMachineAsync(string virtualMachineId, OsseaOperation operation, CancellationToken cancellationToken);

    Task<OsseaVirtualMachine> StopVirtualMachineAsync(string virtualMachineId, bool forced, OsseaOperation operation, CancellationToken cancellationToken);

    /// <summary>destroyVirtualMachine. With <paramref name="expunge"/> the VM and its ROOT volume are gone for good; detach data you keep first.</summary>
    Task<OsseaVirtualMachine> DestroyVirtualMachineAsync(string virtualMachineId, bool expunge, OsseaOperation operation, CancellationToken cancellationToken);

    Task<IReadOnlyList<OsseaVirtualMachine>> ListVirtualMachinesAsync(string? id, string? name, CancellationToken cancellationToken);

    Task<OsseaVirtualMachine?> GetVirtualMachineAsync(string virtualMachineId, CancellationToken cancellationToken);

    Task<IReadOnlyList<OsseaNetwork>> ListNetworksAsync(string? zoneId, string? id, CancellationToken cancellationToken);

    Task<IReadOnlyList<OsseaServiceOffering>> ListServiceOfferingsAsync(string? id, CancellationToken cancellationToken);

    Task<IReadOnlyList<OsseaDiskOffering>> ListDiskOfferingsAsync(string? id, CancellationToken cancellationToken);

    /// <summary>One look at a job (e.g. to resume waiting for a job recorded before a restart).</summary>
    Task<OsseaAsyncJob> QueryAsyncJobAsync(string jobId, CancellationToken cancellationToken);
}
