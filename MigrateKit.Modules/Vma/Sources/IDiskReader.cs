using MigrateKit.Modules.Transport.Nbd;

namespace MigrateKit.Modules.Vma.Sources;

/// <summary>
/// Random access to one source disk: an NBD export (production, through nbdkit's vddk plugin) or a
/// local image read directly. Safe for concurrent reads; disposing releases the connection or handle.
/// </summary>
internal interface IDiskReader : IAsyncDisposable
{
    long Size { get; }

    /// <summary>Whether <see cref="BlockStatusAsync"/> can tell holes from data.</summary>
    bool HasAllocationMap { get; }

    /// <summary>
    /// Extents starting at <paramref name="offset"/>, in order and touching, with base:allocation
    /// meaning (a hole is also zero). They may describe less than <paramref name="length"/>: ask again
    /// from the end of the last one.
    /// </summary>
    Task<IReadOnlyList<NbdExtent>> BlockStatusAsync(long offset, long length, CancellationToken ct);

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/> exactly, or throws <see cref="IOException"/>.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct);
}
