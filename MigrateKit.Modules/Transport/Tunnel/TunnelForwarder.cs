using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>
/// Local port forwarding through the tunnel, like <c>ssh -L</c>: every TCP connection accepted on
/// the (loopback) listen address gets its own tunnel stream to <c>service</c>, pumped both ways with
/// half-close passed through. Entry point for <c>vma forward --listen 127.0.0.1:PORT --service nbd</c>.
/// </summary>
public sealed class TunnelForwarder : IAsyncDisposable
{
    private const int PumpBufferSize = 256 * 1024;

    private readonly IPEndPoint _listen;
    private readonly string _service;
    private readonly Func<string, CancellationToken, Task<TunnelStream>> _openStream;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private int _active;

    public TunnelForwarder(IPEndPoint listen, string service, Func<string, CancellationToken, Task<TunnelStream>> openStream, ILogger logger)
    {
        if (!TunnelWire.IsValidServiceName(service))
        {
            throw new ArgumentException($"invalid tunnel service name '{service}'", nameof(service));
        }

        _listen = listen;
        _service = service;
        _openStream = openStream;
        _logger = logger;
    }

    /// <summary>Forwards through an agent's <see cref="TunnelClient"/>.</summary>
    public TunnelForwarder(IPEndPoint listen, string service, TunnelClient client, ILogger logger)
        : this(listen, service, client.OpenStreamAsync, logger)
    {
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)(_listener?.LocalEndPoint ?? throw new InvalidOperationException("not started"));

    public int ActiveConnections => Volatile.Read(ref _active);

    /// <summary>
    /// Simple entry point for the CLI: forwards until <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public static async Task RunAsync(TunnelClient client, IPEndPoint listen, string service, ILogger logger, CancellationToken cancellationToken)
    {
        await using var forwarder = new TunnelForwarder(listen, service, client, logger);
        forwarder.Start();
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Normal stop.
        }
    }

    public void Start()
    {
        var listener = new Socket(_listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(_listen);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        TunnelLog.ForwardListening(_logger, listener.LocalEndPoint!, _service);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                break;
            }
            catch (SocketException)
            {
                continue;
            }

            socket.NoDelay = true;
            _ = Task.Run(() => ForwardAsync(socket));
        }
    }

    private async Task ForwardAsync(Socket socket)
    {
        Interlocked.Increment(ref _active);
        var remote = socket.RemoteEndPoint;
        try
        {
            await using var local = new NetworkStream(socket, ownsSocket: true);
            TunnelStream tunnel;
            try
            {
                tunnel = await _openStream(_service, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                TunnelLog.ForwardFailed(_logger, remote, _service, $"could not open the tunnel stream: {ex.Message}");
                return;
            }

            await using (tunnel)
            {
                var up = PumpAsync(local, tunnel, () => tunnel.CompleteWrites());
                var down = PumpAsync(tunnel, local, () => socket.Shutdown(SocketShutdown.Send));
                var first = await Task.WhenAny(up, down).ConfigureAwait(false);
                if (first.IsFaulted)
                {
                    // One direction broke: tear down both instead of waiting on the other forever.
                    tunnel.Reset("forwarded connection failed");
                    socket.Close();
                }

                try
                {
                    await Task.WhenAll(up, down).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    TunnelLog.ForwardFailed(_logger, remote, _service, ex.Message);
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private async Task PumpAsync(Stream from, Stream to, Action complete)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(PumpBufferSize);
        try
        {
            while (true)
            {
                var n = await from.ReadAsync(buffer, _stopping.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    complete();
                    return;
                }

                await to.WriteAsync(buffer.AsMemory(0, n), _stopping.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        _stopping.Dispose();
    }
}
