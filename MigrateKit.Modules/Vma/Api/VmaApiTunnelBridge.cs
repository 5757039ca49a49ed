using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Modules.Vma.Api;

/// <summary>
/// Serves the VMA API to the OMA through the tunnel (service <c>vma-api</c>): each tunnel stream
/// is pumped to a fresh loopback TCP connection to the agent's own Kestrel, both ways, with
/// half-close passed on. Chosen over plugging a custom transport into Kestrel because it needs no
/// Kestrel internals and the OMA gets exactly the HTTP/1.1 server (limits, parsing, keep-alive)
/// that local diagnostics get. The cost is one loopback hop for control traffic only; block data
/// never takes this path.
/// </summary>
internal sealed class VmaApiTunnelBridge(IServer server, ILogger<VmaApiTunnelBridge> logger)
{
    public const string Service = "vma-api";
    private const int BufferSize = 64 * 1024;

    /// <summary>Where Kestrel listens (known once it has started; port 0 in tests resolves then).</summary>
    internal IPEndPoint LocalEndPoint()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        foreach (var a in addresses)
        {
            if (Uri.TryCreate(a.Replace("://+", "://127.0.0.1", StringComparison.Ordinal).Replace("://*", "://127.0.0.1", StringComparison.Ordinal), UriKind.Absolute, out var uri)
                && uri.Scheme == Uri.UriSchemeHttp && IPAddress.TryParse(uri.Host, out var ip) && IPAddress.IsLoopback(ip))
            {
                return new IPEndPoint(ip, uri.Port);
            }
        }
        throw new InvalidOperationException("the VMA API is not listening on a loopback http address yet");
    }

    public async Task HandleAsync(Stream tunnel, CancellationToken ct)
    {
        try
        {
            var endPoint = LocalEndPoint();
            using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(endPoint, ct).ConfigureAwait(false);
            await using var local = new NetworkStream(socket, ownsSocket: false);
            var up = PumpAsync(tunnel, local, () => socket.Shutdown(SocketShutdown.Send), ct);
            var down = PumpAsync(local, tunnel, () => (tunnel as TunnelStream)?.CompleteWrites(), ct);
            var first = await Task.WhenAny(up, down).ConfigureAwait(false);
            if (first.IsFaulted)
            {
                (tunnel as TunnelStream)?.Reset("vma-api connection failed");
                socket.Close();
            }
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            VmaLog.ApiBridgeFailed(logger, e.Message);
        }
    }

    private static async Task PumpAsync(Stream from, Stream to, Action complete, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                var n = await from.ReadAsync(buffer, ct).ConfigureAwait(false);
                if (n == 0)
                {
                    complete();
                    return;
                }
                await to.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                await to.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
