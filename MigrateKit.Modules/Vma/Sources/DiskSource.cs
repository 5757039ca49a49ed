using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Modules.Vma.Sources;

/// <summary>Which disk of which snapshot to read.</summary>
internal sealed record DiskSourceRequest(MoRef Vm, string VmName, MoRef Snapshot, int DeviceKey, string FileName);

/// <summary>
/// A source disk opened for reading: an NBD export (nbdkit vddk, any NBD URI) or a local image read
/// directly. Disposing releases the reader (and the nbdkit it started, if any).
/// </summary>
internal sealed class DiskSource(IDiskReader reader, string description) : IAsyncDisposable
{
    public IDiskReader Reader { get; } = reader;

    /// <summary>For messages: what is being read (never credentials).</summary>
    public string Description { get; } = description;

    public long Size => Reader.Size;

    public ValueTask DisposeAsync() => Reader.DisposeAsync();
}

/// <summary>Opens source disks; production reads through nbdkit's vddk plugin, labs through a configured mapping.</summary>
internal interface IDiskSourceFactory
{
    Task<DiskSource> OpenAsync(DiskSourceRequest request, CancellationToken ct);
}

/// <summary>A source disk could not be opened (no mapping, no such image, nbdkit failed, …).</summary>
internal sealed class DiskSourceException(string message, Exception? inner = null) : Exception(message, inner);
