using System.Buffers;
using System.IO.Pipelines;

namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>
/// One multiplexed stream of a tunnel connection, as a <see cref="Stream"/> so HttpClient
/// (SocketsHttpHandler.ConnectCallback), NBD and plain copy loops run over it unchanged.
/// Received bytes wait in a per-stream pipe bounded by the stream window; reading them returns
/// credit to the peer. <see cref="CompleteWrites"/> half-closes (FIN); disposing closes both ways.
/// </summary>
public sealed class TunnelStream : Stream
{
    private readonly TunnelConnection _connection;
    private readonly Pipe _receive;
    private TunnelStreamReader? _input;
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _receiveWindow;
    private readonly object _receiveLock = new();
    private long _receiveRemaining;
    private long _receiveUnacked;
    private bool _finSent;
    private bool _remoteFinished;
    private bool _receiveCompleted;
    private string? _writeError;
    private uint _writeErrorCode;
    private bool _resetDone;
    private int _disposed;

    internal TunnelStream(TunnelConnection connection, uint id, string service, int receiveWindow)
    {
        _connection = connection;
        Id = id;
        Service = service;
        _receiveWindow = receiveWindow;
        _receiveRemaining = receiveWindow;
        _receive = new Pipe(new PipeOptions(
            readerScheduler: PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0, // bounded by the stream window instead
            resumeWriterThreshold: 0,
            minimumSegmentSize: 16 * 1024,
            useSynchronizationContext: false));
    }

    public uint Id { get; }

    public string Service { get; }

    /// <summary>Credit to send to the peer; guarded by the connection's lock.</summary>
    internal long SendWindow { get; set; }

    internal AsyncPulse SendPulse { get; } = new();

    internal Task Opened => _opened.Task;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    // ------------------------------------------------------------ reading

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (buffer.IsEmpty)
        {
            return 0;
        }

        var result = await _receive.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var data = result.Buffer;
        if (data.IsEmpty)
        {
            _receive.Reader.AdvanceTo(data.End);
            if (result.IsCanceled)
            {
                throw new OperationCanceledException(cancellationToken);
            }

            return 0; // completed: the peer half-closed
        }

        var n = (int)Math.Min(data.Length, buffer.Length);
        data.Slice(0, n).CopyTo(buffer.Span);
        _receive.Reader.AdvanceTo(data.GetPosition(n));
        OnConsumed(n);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// The received bytes as a pipe, for readers that parse in place (use it or the Read methods,
    /// not both).
    /// </summary>
    internal PipeReader Input => _input ??= new TunnelStreamReader(this, _receive.Reader);

    /// <summary>Returns stream credit once the application has consumed a quarter of the window.</summary>
    internal void OnConsumed(int n)
    {
        uint grant = 0;
        lock (_receiveLock)
        {
            _receiveUnacked += n;
            if (_receiveUnacked >= _receiveWindow / 4 && !_remoteFinished && !_receiveCompleted)
            {
                grant = (uint)_receiveUnacked;
                _receiveRemaining += _receiveUnacked;
                _receiveUnacked = 0;
            }
        }

        if (grant > 0)
        {
            _connection.WriteUInt32Frame(TunnelFrameType.WindowUpdate, Id, grant);
        }
    }

    // ------------------------------------------------------------ writing

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        while (!buffer.IsEmpty)
        {
            var n = await _connection.AcquireSendCreditAsync(this, Math.Min(buffer.Length, TunnelWire.MaxDataPayload), cancellationToken).ConfigureAwait(false);
            await _connection.WriteDataAsync(Id, buffer[..n], cancellationToken).ConfigureAwait(false);
            buffer = buffer[n..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask; // frames go out as written

    public override void Flush()
    {
    }

    /// <summary>Half-close: sends FIN; the peer reads end-of-stream after the data already sent.</summary>
    public void CompleteWrites()
    {
        bool remove;
        lock (_receiveLock)
        {
            if (_finSent || _writeError is not null)
            {
                return;
            }

            _finSent = true;
            _writeError = "the stream was half-closed for writing";
            remove = _remoteFinished;
        }

        _connection.PulseStream(this);
        _connection.WriteControl(TunnelFrameType.Fin, Id, []);
        if (remove)
        {
            _connection.RemoveStream(this);
        }
    }

    /// <summary>Aborts the stream in both directions and tells the peer why.</summary>
    public void Reset(string reason) => Reset(TunnelErrorCode.Cancelled, reason);

    internal void Reset(TunnelErrorCode code, string reason)
    {
        lock (_receiveLock)
        {
            if (_resetDone || (_remoteFinished && _finSent))
            {
                return; // already reset, or already closed both ways
            }

            _resetDone = true;
            _writeError = $"stream reset: {reason}";
            _writeErrorCode = (uint)code;
            _finSent = true;
        }

        _connection.RemoveStream(this);
        _connection.WriteCodeAndText(TunnelFrameType.Reset, Id, code, reason);
        CompleteReceive(new TunnelStreamException($"tunnel stream {Id} ({Service}) reset locally: {reason}", (uint)code));
        _connection.PulseStream(this);
        _opened.TrySetException(new TunnelStreamException($"tunnel stream {Id} ({Service}) reset: {reason}", (uint)code));
    }

    internal void ThrowIfCannotWrite()
    {
        // Called under the connection lock.
        var error = _writeError;
        if (error is not null)
        {
            throw new TunnelStreamException($"tunnel stream {Id} ({Service}): {error}", _writeErrorCode);
        }
    }

    // ------------------------------------------------------------ connection callbacks (reader loop)

    internal void OnOpenAck(uint peerWindow)
    {
        SendWindow = peerWindow;
        _opened.TrySetResult();
    }

    internal void OnOpenRefused(uint code, string reason)
    {
        lock (_receiveLock)
        {
            _writeError = $"refused: {reason}";
            _writeErrorCode = code;
        }

        CompleteReceive(new TunnelStreamException($"tunnel service '{Service}' refused: {reason}", code));
        _opened.TrySetException(new TunnelOpenRefusedException(Service, code, reason));
    }

    internal void OnData(in ReadOnlySequence<byte> payload)
    {
        lock (_receiveLock)
        {
            if (_remoteFinished)
            {
                throw new TunnelProtocolException($"DATA after FIN on stream {Id}");
            }

            _receiveRemaining -= payload.Length;
            if (_receiveRemaining < 0)
            {
                throw new TunnelProtocolException($"peer exceeded the flow-control window of stream {Id}");
            }

            if (_receiveCompleted)
            {
                return; // the application stopped reading; the bytes are dropped
            }

            var writer = _receive.Writer;
            foreach (var segment in payload)
            {
                writer.Write(segment.Span);
            }

            // No pause threshold: completes synchronously and wakes the reader.
            var flush = writer.FlushAsync();
            if (flush.IsCompleted)
            {
                flush.GetAwaiter().GetResult();
            }
        }
    }

    internal void OnRemoteFin()
    {
        bool remove;
        lock (_receiveLock)
        {
            if (_remoteFinished)
            {
                throw new TunnelProtocolException($"second FIN on stream {Id}");
            }

            _remoteFinished = true;
            remove = _finSent;
        }

        CompleteReceive(null);
        if (remove)
        {
            _connection.RemoveStream(this);
        }
    }

    internal void OnRemoteReset(uint code, string reason)
    {
        lock (_receiveLock)
        {
            _resetDone = true;
            _writeError ??= $"reset by peer: {reason}";
            _writeErrorCode = code;
            _finSent = true;
        }

        // Data that arrived before a FIN stays readable; otherwise the reader sees the reset.
        CompleteReceive(new TunnelStreamException($"tunnel stream {Id} ({Service}) reset by peer: {reason}", code));
        _connection.PulseStream(this);
        _opened.TrySetException(new TunnelStreamException($"tunnel stream {Id} ({Service}) reset by peer: {reason}", code));
    }

    internal void OnConnectionClosed(string reason)
    {
        lock (_receiveLock)
        {
            _writeError ??= $"connection closed: {reason}";
        }

        CompleteReceive(new TunnelStreamException($"tunnel connection closed: {reason}"));
        _connection.PulseStream(this);
        _opened.TrySetException(new TunnelUnavailableException($"tunnel connection closed: {reason}"));
    }

    private void CompleteReceive(Exception? error)
    {
        lock (_receiveLock)
        {
            if (_receiveCompleted)
            {
                return;
            }

            _receiveCompleted = true;
            _receive.Writer.Complete(_remoteFinished ? null : error);
        }
    }

    // ------------------------------------------------------------ disposal

    /// <summary>Sends FIN if not sent; if the peer has not finished sending, resets its side (we will not read it).</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            CompleteWrites();
            bool abandon;
            lock (_receiveLock)
            {
                abandon = !_remoteFinished && !_receiveCompleted;
            }

            if (abandon)
            {
                _connection.RemoveStream(this);
                _connection.WriteCodeAndText(TunnelFrameType.Reset, Id, TunnelErrorCode.Cancelled, "stream closed by the reader");
                CompleteReceive(new ObjectDisposedException(nameof(TunnelStream)));
            }

            _receive.Reader.Complete();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
