using MigrateKit.Modules.Transport.Nbd;

namespace MigrateKit.Modules.Vma.Sources;

/// <summary>
/// Reads an NBD export (nbdkit, qemu-nbd or any NBD server) and, when we started the server,
/// owns its process. Disposing disconnects, then stops the process.
/// </summary>
internal sealed class NbdDiskReader(NbdClient client, IAsyncDisposable? owned) : IDiskReader
{
    private static readonly TimeSpan DisconnectTimeout = TimeSpan.FromSeconds(5);

    public long Size => client.Size;

    public bool HasAllocationMap => client.HasBaseAllocation;

    public Task<IReadOnlyList<NbdExtent>> BlockStatusAsync(long offset, long length, CancellationToken ct) =>
        client.BlockStatusAsync(offset, length, ct: ct);

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => new(client.ReadAsync(offset, buffer, ct));

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(DisconnectTimeout);
            await client.DisconnectAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The server may already be gone; disposing below closes our end regardless.
        }
        await client.DisposeAsync().ConfigureAwait(false);
        if (owned is not null)
        {
            await owned.DisposeAsync().ConfigureAwait(false);
        }
    }
}
