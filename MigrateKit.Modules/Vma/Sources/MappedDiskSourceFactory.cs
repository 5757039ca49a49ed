using MigrateKit.Modules.Transport.Nbd;

namespace MigrateKit.Modules.Vma.Sources;

/// <summary>
/// Lab and test reader: <c>Vma:DiskMappings</c> says which NBD URI or local image stands for a VM
/// disk (VM by moref or name, disk by device key). An NBD URI is read with our NBD client (block
/// status when the server offers base:allocation); a local image file or block device is read
/// directly by <see cref="FileDiskReader"/> (positional reads, SEEK_DATA/SEEK_HOLE for the allocation
/// map), with no nbdkit in between. There is no vCenter snapshot behind it: the image is read as it is.
/// </summary>
internal sealed class MappedDiskSourceFactory(VmaOptions options) : IDiskSourceFactory
{
    public async Task<DiskSource> OpenAsync(DiskSourceRequest request, CancellationToken ct)
    {
        var mapping = options.DiskMappings.FirstOrDefault(m => m.DeviceKey == request.DeviceKey
                && (m.Vm == request.Vm.Value || m.Vm == request.VmName))
            ?? throw new DiskSourceException($"no disk mapping for VM {request.VmName} ({request.Vm.Value}) disk {request.DeviceKey} in Vma:DiskMappings");
        return await OpenSourceAsync(mapping.Source, ct).ConfigureAwait(false);
    }

    /// <summary>Opens an NBD URI, an image file or a block device (used by the mapping and by <c>migratekit-vma copy</c>).</summary>
    public static async Task<DiskSource> OpenSourceAsync(string source, CancellationToken ct)
    {
        if (TryParseNbdUri(source, out var uri))
        {
            try
            {
                var client = uri.Socket is { } socket
                    ? await NbdClient.ConnectUnixAsync(socket, uri.Export, null, ct).ConfigureAwait(false)
                    : await NbdClient.ConnectTcpAsync(uri.Host!, uri.Port, uri.Export, null, ct).ConfigureAwait(false);
                return new DiskSource(new NbdDiskReader(client, null), source);
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
        if (Directory.Exists(source))
        {
            throw new DiskSourceException($"source image '{source}' is a directory");
        }
        return new DiskSource(FileDiskReader.Open(Path.GetFullPath(source)), source);
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
