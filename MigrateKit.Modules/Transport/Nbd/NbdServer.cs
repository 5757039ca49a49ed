using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>Settings for <see cref="NbdServer"/>.</summary>
public sealed class NbdServerOptions
{
    /// <summary>Where <see cref="NbdServer.Start"/> listens: loopback only unless told otherwise (the tunnel carries remote traffic).</summary>
    public IPEndPoint EndPoint { get; set; } = new(IPAddress.Loopback, NbdWire.DefaultPort);

    /// <summary>Requests (other than WRITE, which runs in order) processed at once per connection.</summary>
    public int MaxRequestsInFlight { get; set; } = 64;

    /// <summary>A client that has not started transmission within this time is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Size of the pooled receive buffers for stream transports (a WRITE is written from them in place).</summary>
    public int ReceiveBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// TCP connections get a thread each that makes blocking socket calls (nbdkit's model): no
    /// epoll and thread-pool hop per receive, WRITE replies batched. Otherwise they use pipes
    /// and async I/O like tunnel streams.
    /// </summary>
    public bool BlockingConnections { get; set; } = true;

    /// <summary>With <see cref="BlockingConnections"/>, a reply that cannot be sent within this time (the client stopped reading) drops the connection.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(60);

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

/// <summary>
/// An NBD server (fixed-newstyle handshake, structured replies, base:allocation) for the exports
/// in an <see cref="NbdExportTable"/>. It listens on TCP after <see cref="Start"/>, and serves any
/// stream or duplex pipe handed to <see cref="ServeAsync(Stream, CancellationToken)"/> (tunnel streams).
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    private readonly NbdServerOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private long _nextConnectionId;

    public NbdServer(NbdExportTable exports, NbdServerOptions? options = null, ILogger<NbdServer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(exports);
        Exports = exports;
        _options = options ?? new NbdServerOptions();
        if (_options.MaxRequestsInFlight < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxRequestsInFlight must be at least 1");
        }
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public NbdExportTable Exports { get; }

    /// <summary>The bound endpoint (with the real port when 0 was asked for), once started.</summary>
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint as IPEndPoint;

    /// <summary>Binds the listening socket and starts accepting connections.</summary>
    public void Start()
    {
        if (_listener is not null)
        {
            throw new InvalidOperationException("the NBD server is already started");
        }
        var listener = new Socket(_options.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // No explicit ReuseAddress: on Linux .NET maps it to SO_REUSEPORT, which would let a
            // second server silently share the port.
            listener.Bind(_options.EndPoint);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        NbdLog.Listening(_logger, listener.LocalEndPoint!);
        _acceptLoop = AcceptLoopAsync(listener, _stopping.Token);
    }

    /// <summary>Serves one client over a stream (e.g. a tunnel stream); returns when it disconnects.</summary>
    public Task ServeAsync(Stream stream, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stream);
        // A tunnel stream's bytes already sit in a pipe: parse them there instead of copying them out.
        var reader = stream is TunnelStream tunnel
            ? tunnel.Input
            : PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: _options.ReceiveBufferSize, minimumReadSize: 64 * 1024, leaveOpen: true));
        var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
        return ServeCoreAsync(new DuplexPipe(reader, writer), stream, ct);
    }

    /// <summary>
    /// Serves one client over a duplex pipe; the pipe must let at least 64 KiB accumulate unread
    /// (the default <see cref="Pipe"/> does). Returns when the client disconnects.
    /// </summary>
    public Task ServeAsync(IDuplexPipe transport, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(transport);
        return ServeCoreAsync(transport, null, ct);
    }

    private async Task ServeCoreAsync(IDuplexPipe transport, Stream? stream, CancellationToken ct)
    {
        var id = Interlocked.Increment(ref _nextConnectionId);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        var connection = new NbdServerConnection(transport, Exports, _options, _logger, id, directOutput: stream);
        await connection.RunAsync(linked.Token).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        await Task.WhenAll(_connections.Values).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                NbdLog.AcceptFailed(_logger, ex);
                continue;
            }
            var id = Interlocked.Increment(ref _nextConnectionId);
            var served = ServeSocket(socket, id, ct);
            if (!_options.BlockingConnections)
            {
                _connections[id] = served;
            }
        }
    }

    private Task ServeSocket(Socket socket, long id, CancellationToken ct)
    {
        if (!_options.BlockingConnections)
        {
            return ServeSocketAsync(socket, id, ct);
        }
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                ServeSocketBlocking(socket, id, ct);
            }
            finally
            {
                _connections.TryRemove(id, out _);
                done.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = "nbd-connection",
        };
        // Registered before the thread starts, so its removal always comes after.
        _connections[id] = done.Task;
        thread.Start();
        return done.Task;
    }

    private void ServeSocketBlocking(Socket socket, long id, CancellationToken ct)
    {
        try
        {
            socket.NoDelay = true;
            socket.SendTimeout = (int)Math.Clamp(_options.SendTimeout.TotalMilliseconds, 1, int.MaxValue);
            NbdLog.ConnectionOpened(_logger, id, socket.RemoteEndPoint?.ToString() ?? "?");
            using var stream = new BlockingSocketStream(socket);
            var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
            var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
            var connection = new NbdServerConnection(new DuplexPipe(reader, writer), Exports, _options, _logger, id, stream, socket);
            // Every socket call blocks, so the handshake's awaits finish on this thread and
            // transmission then runs here too (NbdServerConnection.TransmitBlocking).
            connection.RunAsync(ct).GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            NbdLog.ConnectionFailed(_logger, id, ex);
        }
        finally
        {
            socket.Dispose();
        }
    }

    private async Task ServeSocketAsync(Socket socket, long id, CancellationToken ct)
    {
        await Task.Yield();
        try
        {
            socket.NoDelay = true;
            NbdLog.ConnectionOpened(_logger, id, socket.RemoteEndPoint?.ToString() ?? "?");
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(
                bufferSize: _options.ReceiveBufferSize, minimumReadSize: 64 * 1024, leaveOpen: true));
            var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
            var connection = new NbdServerConnection(new DuplexPipe(reader, writer), Exports, _options, _logger, id, stream);
            await connection.RunAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            NbdLog.ConnectionFailed(_logger, id, ex);
        }
        finally
        {
            _connections.TryRemove(id, out _);
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
