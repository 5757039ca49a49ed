using System.Text.Json;

namespace MigrateKit.Modules.Volume.Ossea;

// CloudStack response objects, reduced to what MigrateKit reads. Property names match the JSON
// field names case-insensitively (OsseaJson); unknown fields are ignored.

internal sealed record OsseaZone
{
    public string Id { get; init; } = "";
    public string? Name { get; init; }
    public string? NetworkType { get; init; }
    public string? AllocationState { get; init; }
    public bool SecurityGroupsEnabled { get; init; }
}

internal sealed record OsseaVolume
{
    public string Id { get; init; } = "";
    public string? Name { get; init; }
    public string? ZoneId { get; init; }
    public string? ZoneName { get; init; }
    /// <summary><c>ROOT</c>, <c>DATADISK</c>, …</summary>
    public string? Type { get; init; }
    /// <summary><c>Allocated</c>, <c>Ready</c>, <c>Attaching</c>, …</summary>
    public string? State { get; init; }
    /// <summary>Bytes.</summary>
    public long Size { get; init; }
    public long? DeviceId { get; init; }
    public string? VirtualMachineId { get; init; }
    public string? VmName { get; init; }
    public string? VmDisplayName { get; init; }
    public string? VmState { get; init; }
    public string? DiskOfferingId { get; init; }
    public string? DiskOfferingName { get; init; }
    public string? Storage { get; init; }
    public string? StorageId { get; init; }
    public string? StorageType { get; init; }
    public string? Hypervisor { get; init; }
    public string? Path { get; init; }
    public string? ProvisioningType { get; init; }
    public string? Created { get; init; }
    public string? Attached { get; init; }
    public bool Destroyed { get; init; }
}

internal sealed record OsseaSnapshot
{
    public string Id { get; init; } = "";
    public string? Name { get; init; }
    public string? VolumeId { get; init; }
    public string? VolumeName { get; init; }
    public string? VolumeType { get; init; }
    public string? SnapshotType { get; init; }
    public string? IntervalType { get; init; }
    /// <summary><c>Allocated</c>, <c>Creating</c>, <c>CreatedOnPrimary</c>, <c>BackedUp</c>, …</summary>
    public string? State { get; init; }
    public string? ZoneId { get; init; }
    public long? PhysicalSize { get; init; }
    public long? VirtualSize { get; init; }
    public bool? Revertable { get; init; }
    public string? Created { get; init; }
}

internal sealed record OsseaNic
{
    public string Id { get; init; } = "";
    public string? NetworkId { get; init; }
    public string? NetworkName { get; init; }
    public string? IpAddress { get; init; }
    public string? MacAddress { get; init; }
    public string? Netmask { get; init; }
    public string? Gateway { get; init; }
    public string? TrafficType { get; init; }
    public string? Type { get; init; }
    public bool IsDefault { get; init; }
}

internal sealed record OsseaVirtualMachine
{
    public string Id { get; init; } = "";
    public string? Name { get; init; }
    public string? DisplayName { get; init; }
    public string? InstanceName { get; init; }
    /// <summary><c>Starting</c>, <c>Running</c>, <c>Stopping</c>, <c>Stopped</c>, <c>Destroyed</c>, <c>Expunging</c>, <c>Error</c>, …</summary>
    public string? State { get; init; }
    public string? ZoneId { get; init; }
    public string? ZoneName { get; init; }
    public string? TemplateId { get; init; }
    public string? ServiceOfferingId { get; init; }
    public string? HostId { get; init; }
    public string? HostName { get; init; }
    public string? Hypervisor { get; init; }
    public int? CpuNumber { get; init; }
    public int? Memory { get; init; }
    public long? RootDeviceId { get; init; }
    public string? Created { get; init; }
    public IReadOnlyList<OsseaNic> Nic { get; init; } = [];
    public IReadOnlyDictionary<string, string>? Details { get; init; }
}

internal sealed record OsseaNetwork
{
    public string Id { get; init; } = "";
    public string? Name { get; init; }
    public string? DisplayText { get; init; }
    public string? ZoneId { get; init; }
    public string? ZoneName { get; init; }
    public string? Type { get; init; }
    public string? State { get; init; }
    public string? TrafficType { get; init; }
    public string? Cidr { get; init; }
    public string? Gateway { get; init; }
    public string? Netmask { get; init; }
    public bool CanUseForDeploy { get; init; }
    public bool IsSystem { get; init; }
}

internal sealed record OsseaServiceOffering
{
    public string Id { get; init; } = "";
    public string? Name { get; init; }
    public string? DisplayText { get; init; }
    public int? CpuNumber { get; init; }
    public int? CpuSpeed { get; init; }
    public int? Memory { get; init; }
    public bool IsCustomized { get; init; }
    public string? StorageType { get; init; }
    public long? RootDiskSize { get; init; }
}

internal sealed record OsseaDiskOffering
{
    public string Id { get; init; } = "";
    public string? Name { get; init; }
    public string? DisplayText { get; init; }
    /// <summary>GB; 0 for customized offerings.</summary>
    public long DiskSize { get; init; }
    public bool IsCustomized { get; init; }
    public string? StorageType { get; init; }
    public string? ProvisioningType { get; init; }
}

/// <summary>The initial answer of an async command: <c>{jobid}</c>, or <c>{id, jobid}</c> for async-create commands.</summary>
internal sealed record OsseaAsyncStart
{
    public string JobId { get; init; } = "";
    /// <summary>The new entity's id (async-create commands only); the entity already exists.</summary>
    public string? Id { get; init; }
}

/// <summary>CloudStack <c>JobInfo.Status</c>.</summary>
internal enum OsseaJobStatus
{
    InProgress = 0,
    Succeeded = 1,
    Failed = 2,
    Cancelled = 3,
}

/// <summary>A <c>queryasyncjobresultresponse</c> body.</summary>
internal sealed record OsseaAsyncJob
{
    public string JobId { get; init; } = "";
    public int JobStatus { get; init; }
    public int JobProcStatus { get; init; }
    public int JobResultCode { get; init; }
    public string? JobResultType { get; init; }
    public JsonElement? JobResult { get; init; }
    public string? JobInstanceType { get; init; }
    public string? JobInstanceId { get; init; }
    public string? Cmd { get; init; }
    public string? Created { get; init; }
    public string? Completed { get; init; }

    public OsseaJobStatus Status => (OsseaJobStatus)JobStatus;
}

/// <summary>An error body: <c>{"uuidList":[],"errorcode":431,"cserrorcode":4350,"errortext":"…"}</c>.</summary>
internal sealed record OsseaErrorBody
{
    public int ErrorCode { get; init; }
    public int? CsErrorCode { get; init; }
    public string? ErrorText { get; init; }
}
