using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Modules.Vma.Sources;

/// <summary>Which disk of which snapshot to read.</summary>
internal sealed record DiskSourceRequest(MoRef Vm, string VmName, MoRef Snapshot, int DeviceKey, string FileName);

/// <summary>
/// A source disk opened for reading: an NBD client (to nbdkit, qemu-nbd or any NBD server) and,
/// when we started it, the server process. Disposing disconnects and stops the process.
/// </summary>
internal sealed class DiskSource(NbdClient client, string description, IAsyncDisposable? owned) : IAsyncDisposable
{
    public NbdClient Client { get; } = client;

    /// <summary>For messages: what is being read (never credentials).</summary>
    public string Description { get; } = description;

    public long Size => Client.Size;

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await Client.DisconnectAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The server may already be gone; disposing below closes our end regardless.
        }
        await Client.DisposeAsync().ConfigureAwait(false);
        if (owned is not null)
        {
            await owned.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Opens source disks; production reads through nbdkit's vddk plugin, labs through a configured mapping.</summary>
internal interface IDiskSourceFactory
{
    Task<DiskSource> OpenAsync(DiskSourceRequest request, CancellationToken ct);
}

/// <summary>A source disk could not be opened (no mapping, nbdkit failed, …).</summary>
internal sealed class DiskSourceException(string message, Exception? inner = null) : Exception(message, inner);
