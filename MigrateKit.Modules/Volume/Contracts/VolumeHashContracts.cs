using MediatR;

namespace MigrateKit.Modules.Volume.Contracts;

/// <summary>A byte range of a volume.</summary>
public sealed record VolumeByteRange(long Offset, long Length);

/// <summary>The SHA-256 (lowercase hex) of one range's bytes.</summary>
public sealed record VolumeRangeHash(long Offset, long Length, string Sha256);

/// <summary>
/// Hashes ranges of a volume attached to the OMA: one SHA-256 per range, in the order given, read
/// from its device with positional reads through one bounded buffer. Used to verify what a
/// replication wrote; 409 when the volume is not attached to the OMA, 400 for ranges past its end.
/// </summary>
public sealed record HashVolumeRangesQuery(string VolumeId, IReadOnlyList<VolumeByteRange> Ranges) : IRequest<IReadOnlyList<VolumeRangeHash>>
{
    /// <summary>At most this many ranges per request (the answer holds one hash each).</summary>
    public const int MaxRanges = 100_000;
}
