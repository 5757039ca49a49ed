using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>
/// One multiplexed tunnel over an authenticated transport (an <see cref="System.Net.Security.SslStream"/>).
/// <para>
/// Three loops: the reader parses frames from a <see cref="PipeReader"/> over the transport and
/// dispatches them without ever awaiting the network; the output loop is the single writer of the
/// transport, draining an output <see cref="Pipe"/> into which frames are encoded under a short lock;
/// the keep-alive loop sends PINGs and closes an idle connection.
/// </para>
/// <para>
/// Flow control: every stream has a send window granted by its reader (WINDOW_UPDATE with the stream
/// id once the application has consumed half of it) and the connection has one more window that the
/// receiver returns as soon as a DATA frame reaches the stream's buffer. So a stalled stream holds at
/// most its own window and never starves the others, while the connection window bounds bytes in
/// transit. Control frames sent by the reader loop bypass the output backpressure, so two peers can
/// never deadlock on each other's full buffers.
/// </para>
/// </summary>
internal sealed class TunnelConnection : IAsyncDisposable
{
    private const int OutputSegmentSize = 64 * 1024;
    private const int InputBufferSize = 256 * 1024;

    private readonly Stream _transport;
    private readonly ReadAheadStream? _socketStream;
    private readonly bool _isDialer;
    private readonly TunnelServiceRegistry _services;
    private readonly TunnelConnectionOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly PipeReader _input;
    private readonly Pipe _output;
    private readonly object _sync = new();
    private readonly object _writeLock = new();
    private readonly object _openLock = new(); // taken before _sync and _writeLock, never inside them
    // Serializes writers of the transport: the output loop (control frames) and DATA writers, which
    // write their frames straight into the SslStream instead of copying them into the output pipe.
    private readonly SemaphoreSlim _transportLock = new(1, 1);
    private readonly byte[] _dataHeader = new byte[TunnelWire.HeaderSize]; // guarded by _transportLock
    private readonly Dictionary<uint, TunnelStream> _streams = [];
    private readonly AsyncPulse _connectionPulse = new();
    private readonly AsyncPulse _drainedPulse = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private uint _nextLocalId;
    private uint _lastLocalId;
    private uint _lastPeerId;
    private int _incomingStreams;
    private long _connectionSendWindow = TunnelConnectionOptions.InitialConnectionWindow;
    private long _connectionReceiveRemaining;
    private long _connectionReceiveUnacked;
    private long _outputBacklog;
    private long _lastReceiveTimestamp;
    private bool _outputCompleted;
    private bool _localGoingAway;
    private int _abortStarted;
    private Task? _run;

    public TunnelConnection(Stream transport, bool isDialer, string name, TunnelServiceRegistry services,
        TunnelConnectionOptions options, ILogger logger, TimeProvider time, ReadAheadStream? socketStream = null)
    {
        options.Validate();
        _transport = transport;
        _socketStream = socketStream;
        _isDialer = isDialer;
        Name = name;
        _services = services;
        _options = options;
        _logger = logger;
        _time = time;
        _nextLocalId = isDialer ? 1u : 2u;
        _connectionReceiveRemaining = options.ConnectionWindow;
        ConnectedSince = time.GetUtcNow();
        _input = PipeReader.Create(transport, new StreamPipeReaderOptions(bufferSize: InputBufferSize, minimumReadSize: 64 * 1024, leaveOpen: true));
        _output = new Pipe(new PipeOptions(
            pauseWriterThreshold: 0, // backpressure is ours (OutputBacklogLimit) so control frames never block
            resumeWriterThreshold: 0,
            minimumSegmentSize: OutputSegmentSize,
            useSynchronizationContext: false));
    }

    public string Name { get; }

    public DateTimeOffset ConnectedSince { get; }

    /// <summary>Completes with the close reason when the connection has ended.</summary>
    public Task<string> Closed => _closed.Task;

    public bool IsClosed => Volatile.Read(ref _abortStarted) != 0;

    /// <summary>
    /// Completes when the first frame from the peer has arrived (each side PINGs at start). For the
    /// dialer this means the OMA has authorized it: a refused agent gets a GOAWAY instead and this
    /// task fails with the OMA's reason.
    /// </summary>
    public Task Ready => _ready.Task;

    /// <summary>True once either side announced GOAWAY: no new streams on this connection.</summary>
    public bool IsDraining
    {
        get => Volatile.Read(ref _draining);
        private set => Volatile.Write(ref _draining, value);
    }

    private bool _draining;

    public int ActiveStreams
    {
        get { lock (_sync) { return _streams.Count; } }
    }

    public long StreamsOpened => Interlocked.Read(ref _streamsOpened);

    private long _streamsOpened;

    internal TunnelConnectionOptions Options => _options;

    /// <summary>Starts the loops; <see cref="Closed"/> reports the end.</summary>
    public void Start()
    {
        _lastReceiveTimestamp = _time.GetTimestamp();
        SendPing();
        var extra = _options.ConnectionWindow - TunnelConnectionOptions.InitialConnectionWindow;
        if (extra > 0)
        {
            WriteUInt32Frame(TunnelFrameType.WindowUpdate, 0, (uint)extra);
        }

        _run = Task.WhenAll(
            Task.Run(ReadLoopAsync),
            Task.Run(OutputLoopAsync),
            Task.Run(KeepAliveLoopAsync));
    }

    /// <summary>Opens a stream to <paramref name="service"/> on the peer.</summary>
    public async Task<TunnelStream> OpenStreamAsync(string service, CancellationToken cancellationToken)
    {
        if (!TunnelWire.IsValidServiceName(service))
        {
            throw new ArgumentException($"invalid tunnel service name '{service}'", nameof(service));
        }

        TunnelStream stream;
        // The peer requires OPEN ids strictly increasing on the wire: taking an id and writing its
        // OPEN happen under one lock, or concurrent opens could send 7 before 5.
        lock (_openLock)
        {
            lock (_sync)
            {
                if (IsClosed || IsDraining)
                {
                    throw new TunnelUnavailableException($"tunnel connection {Name} is {(IsClosed ? "closed" : "going away")}");
                }

                var id = _nextLocalId;
                _nextLocalId += 2;
                _lastLocalId = id;
                stream = new TunnelStream(this, id, service, _options.StreamWindow);
                _streams.Add(id, stream);
            }

            Interlocked.Increment(ref _streamsOpened);
            WriteOpen(stream.Id, (uint)_options.StreamWindow, service);
        }
        try
        {
            await stream.Opened.WaitAsync(_options.OpenTimeout, _time, cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch (TimeoutException)
        {
            stream.Reset(TunnelErrorCode.Cancelled, "open timed out");
            throw new TunnelStreamException($"tunnel service '{service}' did not answer within {_options.OpenTimeout}", (uint)TunnelErrorCode.Cancelled);
        }
        catch (OperationCanceledException)
        {
            stream.Reset(TunnelErrorCode.Cancelled, "open cancelled");
            throw;
        }
    }

    /// <summary>Announces GOAWAY, waits for running streams (bounded by DrainTimeout), then closes.</summary>
    public async Task ShutdownAsync(string reason, CancellationToken cancellationToken)
    {
        uint lastPeer;
        lock (_sync)
        {
            if (IsClosed)
            {
                return;
            }

            _localGoingAway = true;
            IsDraining = true;
            lastPeer = _lastPeerId;
        }

        WriteGoAway(lastPeer, TunnelErrorCode.NoError, reason);
        using var timeout = new Deadline(_options.DrainTimeout, _time, cancellationToken);
        try
        {
            while (true)
            {
                Task wait;
                lock (_sync)
                {
                    if (_streams.Count == 0 || IsClosed)
                    {
                        break;
                    }

                    wait = _drainedPulse.GetWaitTask();
                }

                await wait.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Drain deadline: close anyway.
        }

        Abort(TunnelErrorCode.Shutdown, reason, sendGoAway: false);
        await WaitClosedAsync().ConfigureAwait(false);
    }

    /// <summary>Closes the connection now; the peer gets GOAWAY with the code and reason (best effort).</summary>
    public void Abort(TunnelErrorCode code, string reason, bool sendGoAway = true)
    {
        if (Interlocked.Exchange(ref _abortStarted, 1) != 0)
        {
            return;
        }

        IsDraining = true;
        TunnelStream[] streams;
        lock (_sync)
        {
            streams = [.. _streams.Values];
            _streams.Clear();
            _connectionPulse.Pulse();
            _drainedPulse.Pulse();
        }

        if (code is TunnelErrorCode.ProtocolError or TunnelErrorCode.FlowControlError)
        {
            TunnelLog.ProtocolViolation(_logger, Name, reason);
        }
        else
        {
            TunnelLog.ConnectionClosed(_logger, Name, reason);
        }

        lock (_writeLock)
        {
            if (!_outputCompleted)
            {
                if (sendGoAway)
                {
                    EncodeGoAway(_lastPeerId, code, reason);
                }

                _outputCompleted = true;
                _output.Writer.Complete();
            }
        }

        foreach (var stream in streams)
        {
            stream.OnConnectionClosed(reason);
        }

        _ready.TrySetException(new TunnelUnavailableException(reason));
        _ = _ready.Task.Exception; // observed: nobody may be waiting

        _closing.CancelAfter(TimeSpan.FromSeconds(2)); // let the output loop flush the GOAWAY first
        _ = FinishCloseAsync(reason);
    }

    private async Task FinishCloseAsync(string reason)
    {
        try
        {
            if (_run is not null)
            {
                await Task.WhenAny(_run, Task.Delay(TimeSpan.FromSeconds(2), _time)).ConfigureAwait(false);
            }
        }
        finally
        {
            await _transport.DisposeAsync().ConfigureAwait(false);
            if (_run is not null)
            {
                try
                {
                    await _run.ConfigureAwait(false);
                }
                catch
                {
                    // Loop failures are reported through the close reason.
                }
            }

            _closed.TrySetResult(reason);
        }
    }

    private async Task WaitClosedAsync() => await _closed.Task.ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        Abort(TunnelErrorCode.Shutdown, "connection disposed");
        await WaitClosedAsync().ConfigureAwait(false);
        _closing.Dispose();
    }

    // ---------------------------------------------------------------- reader loop

    private async Task ReadLoopAsync()
    {
        var reason = "peer closed the connection";
        var code = TunnelErrorCode.NoError;
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(_closing.Token).ConfigureAwait(false);
                Volatile.Write(ref _lastReceiveTimestamp, _time.GetTimestamp());
                var buffer = result.Buffer;
                var consumed = buffer.Start;
                var examined = buffer.Start;
                try
                {
                    while (TunnelWire.TryParse(buffer.Slice(consumed), _options.MaxFramePayload, ref consumed, ref examined, out var frame))
                    {
                        HandleFrame(frame);
                        if (!IsClosed)
                        {
                            _ready.TrySetResult();
                        }
                    }

                    if (result.IsCompleted)
                    {
                        if (!buffer.Slice(consumed).IsEmpty)
                        {
                            throw new TunnelProtocolException("connection ended inside a frame");
                        }

                        break;
                    }

                    if (result.IsCanceled)
                    {
                        break;
                    }
                }
                finally
                {
                    _input.AdvanceTo(consumed, examined);
                }

                if (IsClosed)
                {
                    return;
                }
            }
        }
        catch (TunnelProtocolException ex)
        {
            code = TunnelErrorCode.ProtocolError;
            reason = ex.Message;
        }
        catch (OperationCanceledException)
        {
            reason = "connection closed locally";
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            reason = $"transport error: {ex.Message}";
        }
        catch (Exception ex)
        {
            // A bug must cost this connection only, never the process.
            code = TunnelErrorCode.InternalError;
            reason = $"internal error: {ex.GetType().Name}: {ex.Message}";
        }
        finally
        {
            await _input.CompleteAsync().ConfigureAwait(false);
        }

        Abort(code, reason, sendGoAway: code != TunnelErrorCode.NoError);
    }

    private void HandleFrame(in TunnelFrame frame)
    {
        switch (frame.Type)
        {
            case TunnelFrameType.Data:
                OnData(frame);
                break;
            case TunnelFrameType.Open:
                OnOpen(frame);
                break;
            case TunnelFrameType.OpenAck:
                if (FindStream(frame.StreamId, mustBeLocal: true) is { } acked)
                {
                    acked.OnOpenAck(TunnelWire.ReadUInt32(frame.Payload));
                }

                break;
            case TunnelFrameType.OpenRefused:
                if (FindStream(frame.StreamId, mustBeLocal: true) is { } refused)
                {
                    var refusedCode = TunnelWire.ReadUInt32(frame.Payload);
                    RemoveStream(refused);
                    refused.OnOpenRefused(refusedCode, TunnelWire.ReadText(frame.Payload, 4));
                }

                break;
            case TunnelFrameType.Fin:
                FindStream(frame.StreamId)?.OnRemoteFin();
                break;
            case TunnelFrameType.Reset:
                if (FindStream(frame.StreamId) is { } reset)
                {
                    RemoveStream(reset);
                    reset.OnRemoteReset(TunnelWire.ReadUInt32(frame.Payload), TunnelWire.ReadText(frame.Payload, 4));
                }

                break;
            case TunnelFrameType.WindowUpdate:
                OnWindowUpdate(frame.StreamId, TunnelWire.ReadUInt32(frame.Payload));
                break;
            case TunnelFrameType.Ping:
                Span<byte> ping = stackalloc byte[TunnelWire.PingPayloadSize];
                frame.Payload.CopyTo(ping);
                WriteControl(TunnelFrameType.Pong, 0, ping);
                break;
            case TunnelFrameType.Pong:
                break; // receiving anything refreshes the keep-alive timestamp
            case TunnelFrameType.GoAway:
                OnGoAway(frame.Payload);
                break;
            default:
                throw new TunnelProtocolException($"unexpected frame type {frame.Type}");
        }
    }

    /// <summary>
    /// Finds the stream a frame is addressed to. A stream id that was never opened is a protocol
    /// error; an id that existed but is already closed returns null (frames crossing a RESET).
    /// </summary>
    private TunnelStream? FindStream(uint id, bool mustBeLocal = false)
    {
        var local = (id & 1) == (_isDialer ? 1u : 0u);
        lock (_sync)
        {
            if (_streams.TryGetValue(id, out var stream))
            {
                if (mustBeLocal && !local)
                {
                    throw new TunnelProtocolException($"OPEN answer for stream {id} that the peer opened");
                }

                return stream;
            }

            var everUsed = local ? id <= _lastLocalId && id != 0 : id <= _lastPeerId && id != 0;
            if (!everUsed)
            {
                throw new TunnelProtocolException($"frame for unknown stream {id}");
            }

            return null;
        }
    }

    private void OnData(in TunnelFrame frame)
    {
        var length = (int)frame.Payload.Length;
        lock (_sync)
        {
            _connectionReceiveRemaining -= length;
            if (_connectionReceiveRemaining < 0)
            {
                throw new TunnelProtocolException("peer exceeded the connection flow-control window");
            }
        }

        var stream = FindStream(frame.StreamId);
        stream?.OnData(frame.Payload);

        // The bytes are out of the connection's buffer: return their connection credit now.
        uint grant = 0;
        lock (_sync)
        {
            _connectionReceiveUnacked += length;
            if (_connectionReceiveUnacked >= _options.ConnectionWindow / 4)
            {
                grant = (uint)_connectionReceiveUnacked;
                _connectionReceiveRemaining += _connectionReceiveUnacked;
                _connectionReceiveUnacked = 0;
            }
        }

        if (grant > 0)
        {
            WriteUInt32Frame(TunnelFrameType.WindowUpdate, 0, grant);
        }
    }

    private void OnOpen(in TunnelFrame frame)
    {
        var id = frame.StreamId;
        if ((id & 1) == (_isDialer ? 1u : 0u))
        {
            throw new TunnelProtocolException($"OPEN with stream id {id} of the wrong parity");
        }

        var (window, service, error) = TunnelWire.ParseOpen(frame.Payload);
        TunnelServiceHandler? handler = null;
        TunnelStream? stream = null;
        lock (_sync)
        {
            if (id <= _lastPeerId)
            {
                throw new TunnelProtocolException($"OPEN with stream id {id} not above the last one ({_lastPeerId})");
            }

            _lastPeerId = id;
            if (error is null)
            {
                if (_localGoingAway || IsClosed)
                {
                    error = "connection is going away";
                }
                else if (_incomingStreams >= _options.MaxIncomingStreams)
                {
                    error = "too many open streams";
                }
                else if ((handler = _services.Find(service!)) is null)
                {
                    error = $"unknown service '{service}'";
                }
                else
                {
                    stream = new TunnelStream(this, id, service!, _options.StreamWindow);
                    stream.OnOpenAck(window);
                    _streams.Add(id, stream);
                    _incomingStreams++;
                }
            }
        }

        if (stream is null)
        {
            var code = error!.StartsWith("unknown", StringComparison.Ordinal) ? TunnelErrorCode.UnknownService : TunnelErrorCode.Refused;
            TunnelLog.StreamRefused(_logger, Name, id, error);
            WriteCodeAndText(TunnelFrameType.OpenRefused, id, code, error);
            return;
        }

        Interlocked.Increment(ref _streamsOpened);
        WriteUInt32Frame(TunnelFrameType.OpenAck, id, (uint)_options.StreamWindow);
        _ = Task.Run(() => RunHandlerAsync(stream, handler!));
    }

    private async Task RunHandlerAsync(TunnelStream stream, TunnelServiceHandler handler)
    {
        try
        {
            await handler(stream, _closing.Token).ConfigureAwait(false);
            stream.CompleteWrites();
        }
        catch (Exception ex)
        {
            if (!IsClosed)
            {
                TunnelLog.HandlerFailed(_logger, ex, stream.Service, stream.Id, Name);
            }

            stream.Reset(TunnelErrorCode.HandlerFailed, "service handler failed");
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void OnWindowUpdate(uint streamId, uint increment)
    {
        if (increment == 0)
        {
            throw new TunnelProtocolException("WINDOW_UPDATE with a zero increment");
        }

        if (streamId == 0)
        {
            lock (_sync)
            {
                _connectionSendWindow += increment;
                if (_connectionSendWindow > int.MaxValue)
                {
                    throw new TunnelProtocolException("connection window overflow");
                }

                _connectionPulse.Pulse();
            }

            return;
        }

        if (FindStream(streamId) is { } stream)
        {
            lock (_sync)
            {
                stream.SendWindow += increment;
                if (stream.SendWindow > int.MaxValue)
                {
                    throw new TunnelProtocolException($"stream {streamId} window overflow");
                }

                stream.SendPulse.Pulse();
            }
        }
    }

    private void OnGoAway(in ReadOnlySequence<byte> payload)
    {
        var lastStream = TunnelWire.ReadUInt32(payload);
        var code = TunnelWire.ReadUInt32(payload, 4);
        var reason = TunnelWire.ReadText(payload, 8);
        TunnelLog.GoAwayReceived(_logger, Name, code, reason);
        IsDraining = true;
        List<TunnelStream> unprocessed = [];
        lock (_sync)
        {
            foreach (var (id, stream) in _streams)
            {
                var local = (id & 1) == (_isDialer ? 1u : 0u);
                if (local && id > lastStream)
                {
                    unprocessed.Add(stream);
                }
            }

            foreach (var stream in unprocessed)
            {
                _streams.Remove(stream.Id);
            }
        }

        foreach (var stream in unprocessed)
        {
            stream.OnRemoteReset((uint)TunnelErrorCode.Shutdown, $"peer going away: {reason}");
        }

        if (code != (uint)TunnelErrorCode.NoError)
        {
            Abort((TunnelErrorCode)code, $"peer closed the connection: {reason}", sendGoAway: false);
        }
    }

    // ---------------------------------------------------------------- stream callbacks

    internal void RemoveStream(TunnelStream stream)
    {
        lock (_sync)
        {
            if (_streams.Remove(stream.Id))
            {
                var local = (stream.Id & 1) == (_isDialer ? 1u : 0u);
                if (!local)
                {
                    _incomingStreams--;
                }

                if (_streams.Count == 0)
                {
                    _drainedPulse.Pulse();
                }
            }
        }
    }

    /// <summary>Waits until the stream and the connection have credit; returns how many bytes may be sent.</summary>
    internal async ValueTask<int> AcquireSendCreditAsync(TunnelStream stream, int wanted, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_sync)
            {
                stream.ThrowIfCannotWrite();
                if (stream.SendWindow > 0 && _connectionSendWindow > 0 && Volatile.Read(ref _outputBacklog) < _options.OutputBacklogLimit)
                {
                    var n = (int)Math.Min(wanted, Math.Min(stream.SendWindow, _connectionSendWindow));
                    stream.SendWindow -= n;
                    _connectionSendWindow -= n;
                    return n;
                }

                wait = stream.SendWindow <= 0 ? stream.SendPulse.GetWaitTask() : _connectionPulse.GetWaitTask();
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    internal void PulseStream(TunnelStream stream)
    {
        lock (_sync)
        {
            stream.SendPulse.Pulse();
        }
    }

    // ---------------------------------------------------------------- output

    /// <summary>
    /// Writes one DATA frame from the caller's buffer straight into the transport (no copy into the
    /// output pipe), serialized with the output loop. The caller's token only bounds the wait for
    /// the transport: a frame once started is always written whole, or the connection ends.
    /// </summary>
    internal async ValueTask WriteDataAsync(uint streamId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await _transportLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_writeLock)
            {
                ThrowIfOutputCompleted();
            }

            TunnelWire.WriteHeader(_dataHeader, TunnelFrameType.Data, streamId, payload.Length);
            _socketStream?.BeginWriteBatch();
            await _transport.WriteAsync(_dataHeader, _closing.Token).ConfigureAwait(false);
            await _transport.WriteAsync(payload, _closing.Token).ConfigureAwait(false);
            await _transport.FlushAsync(_closing.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or NotSupportedException
            or System.Security.Authentication.AuthenticationException && ex is not TunnelStreamException)
        {
            if (ex is OperationCanceledException && !_closing.IsCancellationRequested)
            {
                throw; // the caller's own cancellation while waiting for the transport: nothing was written
            }

            Abort(TunnelErrorCode.InternalError, $"transport write failed: {ex.Message}", sendGoAway: false);
            throw new TunnelStreamException($"tunnel connection {Name} is closed: {ex.Message}");
        }
        finally
        {
            _transportLock.Release();
        }
    }

    internal void WriteControl(TunnelFrameType type, uint streamId, ReadOnlySpan<byte> payload)
    {
        lock (_writeLock)
        {
            if (_outputCompleted)
            {
                return; // the connection is closing; the peer learns from the close
            }

            var writer = _output.Writer;
            var span = writer.GetSpan(TunnelWire.HeaderSize + payload.Length);
            TunnelWire.WriteHeader(span, type, streamId, payload.Length);
            payload.CopyTo(span[TunnelWire.HeaderSize..]);
            writer.Advance(TunnelWire.HeaderSize + payload.Length);
            CommitLocked(TunnelWire.HeaderSize + payload.Length);
        }
    }

    internal void WriteUInt32Frame(TunnelFrameType type, uint streamId, uint value)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, value);
        WriteControl(type, streamId, payload);
    }

    internal void WriteCodeAndText(TunnelFrameType type, uint streamId, TunnelErrorCode code, string text)
    {
        Span<byte> payload = stackalloc byte[TunnelWire.MaxControlPayload];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)code);
        var n = EncodeText(text, payload[4..]);
        WriteControl(type, streamId, payload[..(4 + n)]);
    }

    private void WriteOpen(uint streamId, uint window, string service)
    {
        Span<byte> payload = stackalloc byte[5 + TunnelWire.MaxServiceNameLength];
        BinaryPrimitives.WriteUInt32BigEndian(payload, window);
        payload[4] = (byte)service.Length;
        var n = Encoding.ASCII.GetBytes(service, payload[5..]);
        WriteControl(TunnelFrameType.Open, streamId, payload[..(5 + n)]);
    }

    private void WriteGoAway(uint lastPeerStream, TunnelErrorCode code, string reason)
    {
        lock (_writeLock)
        {
            if (!_outputCompleted)
            {
                EncodeGoAway(lastPeerStream, code, reason);
            }
        }
    }

    private void EncodeGoAway(uint lastPeerStream, TunnelErrorCode code, string reason)
    {
        Span<byte> payload = stackalloc byte[TunnelWire.MaxControlPayload];
        BinaryPrimitives.WriteUInt32BigEndian(payload, lastPeerStream);
        BinaryPrimitives.WriteUInt32BigEndian(payload[4..], (uint)code);
        var n = EncodeText(reason, payload[8..]);
        var writer = _output.Writer;
        var span = writer.GetSpan(TunnelWire.HeaderSize + 8 + n);
        TunnelWire.WriteHeader(span, TunnelFrameType.GoAway, 0, 8 + n);
        payload[..(8 + n)].CopyTo(span[TunnelWire.HeaderSize..]);
        writer.Advance(TunnelWire.HeaderSize + 8 + n);
        CommitLocked(TunnelWire.HeaderSize + 8 + n);
    }

    private static int EncodeText(string text, Span<byte> destination)
    {
        // Truncate on a character boundary so the message always fits a control frame.
        var max = destination.Length;
        var chars = text.AsSpan();
        while (Encoding.UTF8.GetByteCount(chars) > max)
        {
            chars = chars[..(chars.Length / 2)];
        }

        return Encoding.UTF8.GetBytes(chars, destination);
    }

    private void CommitLocked(int bytes)
    {
        Interlocked.Add(ref _outputBacklog, bytes);
        // No pause threshold: this completes synchronously and only wakes the output loop.
        var flush = _output.Writer.FlushAsync();
        if (!flush.IsCompleted)
        {
            throw new InvalidOperationException("tunnel output flush unexpectedly went asynchronous");
        }

        flush.GetAwaiter().GetResult();
    }

    private void ThrowIfOutputCompleted()
    {
        if (_outputCompleted)
        {
            throw new TunnelStreamException($"tunnel connection {Name} is closed");
        }
    }

    private async Task OutputLoopAsync()
    {
        var reader = _output.Reader;
        string? failure = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(_closing.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                await _transportLock.WaitAsync(_closing.Token).ConfigureAwait(false);
                try
                {
                    // The TLS records of this batch go to the socket in a few large sends at the flush.
                    _socketStream?.BeginWriteBatch();
                    foreach (var segment in buffer)
                    {
                        await _transport.WriteAsync(segment, _closing.Token).ConfigureAwait(false);
                    }

                    await _transport.FlushAsync(_closing.Token).ConfigureAwait(false);
                }
                finally
                {
                    _transportLock.Release();
                }

                var written = buffer.Length;
                reader.AdvanceTo(buffer.End);
                var backlog = Interlocked.Add(ref _outputBacklog, -written);
                if (backlog < _options.OutputBacklogLimit)
                {
                    lock (_sync)
                    {
                        if (_connectionPulse.HasWaiters)
                        {
                            _connectionPulse.Pulse();
                        }
                    }
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            failure = "output cancelled";
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Security.Authentication.AuthenticationException or NotSupportedException)
        {
            failure = $"transport write failed: {ex.Message}";
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }

        if (failure is not null)
        {
            Abort(TunnelErrorCode.InternalError, failure, sendGoAway: false);
        }
        else
        {
            // Everything (including a final GOAWAY) is written: the close can proceed at once.
            _closing.Cancel();
        }
    }

    // ---------------------------------------------------------------- keep-alive

    private async Task KeepAliveLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.PingInterval / 2, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_closing.Token).ConfigureAwait(false))
            {
                var idle = _time.GetElapsedTime(Volatile.Read(ref _lastReceiveTimestamp));
                if (idle >= _options.KeepAliveTimeout)
                {
                    Abort(TunnelErrorCode.KeepAliveTimeout, $"no frame from the peer for {idle.TotalSeconds:F0} s (keep-alive timeout)");
                    return;
                }

                if (idle >= _options.PingInterval)
                {
                    SendPing();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Closing.
        }
    }

    private void SendPing()
    {
        Span<byte> payload = stackalloc byte[TunnelWire.PingPayloadSize];
        BinaryPrimitives.WriteInt64BigEndian(payload, _time.GetTimestamp());
        WriteControl(TunnelFrameType.Ping, 0, payload);
    }

    public override string ToString() => Name;
}
