using MigrateKit.Modules.Transport.Nbd;

namespace MigrateKit.Modules.Vma.Sources;

/// <summary>
/// Lab and test reader: <c>Vma:DiskMappings</c> says which NBD URI or local image stands for a VM
/// disk (VM by moref or name, disk by device key). An image file is served by
/// <c>nbdkit --readonly file</c> on a Unix socket, so reads take the same NBD client path (with
/// block status) as production. There is no vCenter snapshot behind it: the image is read as it is.
/// </summary>
internal sealed class MappedDiskSourceFactory(VmaOptions options) : IDiskSourceFactory
{
    public async Task<DiskSource> OpenAsync(DiskSourceRequest request, CancellationToken ct)
    {
        var mapping = options.DiskMappings.FirstOrDefault(m => m.DeviceKey == request.DeviceKey
                && (m.Vm == request.Vm.Value || m.Vm == request.VmName))
            ?? throw new DiskSourceException($"no disk mapping for VM {request.VmName} ({request.Vm.Value}) disk {request.DeviceKey} in Vma:DiskMappings");
        return await OpenSourceAsync(mapping.Source, options.Nbdkit, ct).ConfigureAwait(false);
    }

    /// <summary>Opens an NBD URI or an image file (used by the mapping and by <c>migratekit-vma copy</c>).</summary>
    public static async Task<DiskSource> OpenSourceAsync(string source, string nbdkit, CancellationToken ct)
    {
        if (TryParseNbdUri(source, out var uri))
        {
            try
            {
                var client = uri.Socket is { } socket
                    ? await NbdClient.ConnectUnixAsync(socket, uri.Export, null, ct).ConfigureAwait(false)
                    : await NbdClient.ConnectTcpAsync(uri.Host!, uri.Port, uri.Export, null, ct).ConfigureAwait(false);
                return new DiskSource(client, source, null);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException)
            {
                throw new DiskSourceException($"cannot connect to {source}: {e.Message}", e);
            }
        }
        if (source.Contains("://", StringComparison.Ordinal))
        {
            throw new DiskSourceException($"'{source}' is neither nbd://host[:port]/export, nbd+unix:///export?socket=PATH nor a file");
        }
        if (!File.Exists(source))
        {
            throw new DiskSourceException($"source image '{source}' does not exist");
        }
        var process = await NbdkitProcess.StartAsync(nbdkit, ["file", Path.GetFullPath(source)], TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        try
        {
            var client = await NbdClient.ConnectUnixAsync(process.SocketPath, "", null, ct).ConfigureAwait(false);
            return new DiskSource(client, source, process);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException)
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw new DiskSourceException($"cannot read {source} through nbdkit: {e.Message}", e);
        }
    }

    internal readonly record struct NbdUri(string? Host, int Port, string? Socket, string Export);

    /// <summary>nbd://host[:port][/export] and nbd+unix:///export?socket=PATH (the NBD URI spec).</summary>
    internal static bool TryParseNbdUri(string text, out NbdUri uri)
    {
        uri = default;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var u))
        {
            return false;
        }
        var export = Uri.UnescapeDataString(u.AbsolutePath.TrimStart('/'));
        switch (u.Scheme)
        {
            case "nbd":
                if (string.IsNullOrEmpty(u.Host))
                {
                    return false;
                }
                uri = new NbdUri(u.Host, u.IsDefaultPort || u.Port < 0 ? 10809 : u.Port, null, export);
                return true;
            case "nbd+unix":
                var query = u.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
                    .Select(p => p.Split('=', 2)).Where(p => p.Length == 2)
                    .ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1]), StringComparer.Ordinal);
                if (!query.TryGetValue("socket", out var socket) || socket.Length == 0)
                {
                    return false;
                }
                uri = new NbdUri(null, 0, socket, export);
                return true;
            default:
                return false;
        }
    }
}
