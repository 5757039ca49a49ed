using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Modules.Vma.Sources;

/// <summary>
/// Production reader: nbdkit's vddk plugin opens the snapshot's disk through vCenter
/// (transports file, nbdssl, nbd in that order), served read-only on a private Unix socket.
/// The vCenter password reaches nbdkit as <c>password=+FILE</c> (the same password file the
/// SOAP client reads), so it is never on a command line (fixtures/nbd-cbt-tls.md §4).
/// </summary>
internal sealed class VddkDiskSourceFactory(VmaOptions options, VSphereOptions vsphere) : IDiskSourceFactory
{
    public async Task<DiskSource> OpenAsync(DiskSourceRequest request, CancellationToken ct)
    {
        var process = await NbdkitProcess.StartAsync(options.Nbdkit, BuildArguments(request), TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        try
        {
            var client = await NbdClient.ConnectUnixAsync(process.SocketPath, "", new NbdClientOptions { MaxInFlight = 16 }, ct).ConfigureAwait(false);
            return new DiskSource(new NbdDiskReader(client, process), $"vddk {request.FileName} of {request.Vm} at {request.Snapshot}");
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException)
        {
            var stderr = process.Stderr.Trim();
            await process.DisposeAsync().ConfigureAwait(false);
            throw new DiskSourceException($"cannot read {request.FileName} through nbdkit vddk: {e.Message} {stderr}", e);
        }
    }

    internal IReadOnlyList<string> BuildArguments(DiskSourceRequest request)
    {
        var args = new List<string> { "vddk" };
        if (!string.IsNullOrWhiteSpace(options.VddkLibDir))
        {
            args.Add("libdir=" + options.VddkLibDir);
        }
        var sdk = vsphere.SdkUri();
        args.Add("server=" + sdk.Host);
        if (sdk.Port != 443)
        {
            args.Add("port=" + sdk.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        args.Add("user=" + vsphere.User);
        args.Add("password=+" + vsphere.PasswordFile);
        args.Add("thumbprint=" + VSphereOptions.FormatThumbprint(VSphereOptions.ParseThumbprint(vsphere.Thumbprint)));
        args.Add("vm=moref=" + request.Vm.Value);
        args.Add("snapshot=" + request.Snapshot.Value);
        args.Add("transports=file:nbdssl:nbd");
        args.Add(request.FileName);
        return args;
    }
}
