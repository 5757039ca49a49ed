namespace MigrateKit.Modules.VmaContracts;

/// <summary>
/// POST /api/v1/vms/{vmPath}/snapshots/{snapshotId}/disks/{deviceKey}/hashes: one SHA-256 per chunk of
/// what the disk holds in the snapshot over vCenter's areas since <see cref="ChangeId"/> (if given)
/// united with <see cref="Ranges"/>. Absent numbers take the agent's defaults.
/// </summary>
public sealed record VmaHashRequest(string? ChangeId, IReadOnlyList<VmaByteRange>? Ranges, int? ChunkBytes, long? FromOffset, long? MaxBytes);

/// <param name="Sha256">Lowercase hex.</param>
public sealed record VmaRangeHash(long Offset, long Length, string Sha256);

/// <param name="NextOffset">Where the next request starts; null when this answer reached the end.</param>
public sealed record VmaDiskHashes(
    string? Vm, string? SnapshotId, int DeviceKey, long CapacityBytes, string Algorithm, int ChunkBytes,
    IReadOnlyList<VmaRangeHash> Chunks, long BytesHashed, long? NextOffset);
