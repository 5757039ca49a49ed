using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>Settings for <see cref="NbdClient"/>.</summary>
public sealed class NbdClientOptions
{
    /// <summary>Requests in flight at once on the connection (the pipelining window).</summary>
    public int MaxInFlight { get; set; } = 16;

    /// <summary>Ask for structured replies (and base:allocation); falls back when the server says no.</summary>
    public bool StructuredReplies { get; set; } = true;

    /// <summary>Negotiation gives up after this long.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

/// <summary>One base:allocation extent.</summary>
public readonly record struct NbdExtent(long Offset, long Length, bool IsHole, bool IsZero);

/// <summary>
/// An NBD client (fixed newstyle, GO with structured replies, base:allocation) over TCP, a Unix
/// socket or any duplex stream. Requests are pipelined up to <see cref="NbdClientOptions.MaxInFlight"/>
/// and matched to replies by cookie, so it is safe to call from several tasks at once.
/// </summary>
public sealed class NbdClient : IAsyncDisposable
{
    private const int DirectWriteThreshold = 64 * 1024;

    private readonly Stream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly NbdClientOptions _options;
    private readonly SemaphoreSlim _window;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Dictionary<ulong, Pending> _pending = [];
    private readonly CancellationTokenSource _closing = new();
    private Task? _receiveLoop;
    private ulong _nextCookie;
    private Exception? _failure;
    private bool _disconnected;
    private uint _contextId;

    private NbdClient(Stream stream, NbdClientOptions options)
    {
        _stream = stream;
        _options = options;
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1024 * 1024, minimumReadSize: 64 * 1024, leaveOpen: true));
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
        _window = new SemaphoreSlim(options.MaxInFlight, options.MaxInFlight);
    }

    public string ExportName { get; private set; } = "";
    public long Size { get; private set; }
    public ushort TransmissionFlags { get; private set; }
    public bool StructuredReplies { get; private set; }
    /// <summary>Whether the server selected base:allocation, i.e. <see cref="BlockStatusAsync"/> works.</summary>
    public bool HasBaseAllocation { get; private set; }
    public int MinimumBlockSize { get; private set; } = 1;
    public int PreferredBlockSize { get; private set; } = 4096;
    public int MaximumPayload { get; private set; } = NbdWire.MaxPayload;

    public bool IsReadOnly => (TransmissionFlags & NbdWire.TxReadOnly) != 0;
    public bool CanFlush => (TransmissionFlags & NbdWire.TxSendFlush) != 0;
    public bool CanFua => (TransmissionFlags & NbdWire.TxSendFua) != 0;
    public bool CanTrim => (TransmissionFlags & NbdWire.TxSendTrim) != 0;
    public bool CanWriteZeroes => (TransmissionFlags & NbdWire.TxSendWriteZeroes) != 0;
    public bool CanFastZero => (TransmissionFlags & NbdWire.TxSendFastZero) != 0;
    public bool CanMultiConn => (TransmissionFlags & NbdWire.TxCanMultiConn) != 0;
    public bool CanCache => (TransmissionFlags & NbdWire.TxSendCache) != 0;

    public static async Task<NbdClient> ConnectTcpAsync(string host, int port, string exportName,
        NbdClientOptions? options = null, CancellationToken ct = default)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return await ConnectAsync(new NetworkStream(socket, ownsSocket: true), exportName, options, ct).ConfigureAwait(false);
    }

    public static async Task<NbdClient> ConnectUnixAsync(string socketPath, string exportName,
        NbdClientOptions? options = null, CancellationToken ct = default)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return await ConnectAsync(new NetworkStream(socket, ownsSocket: true), exportName, options, ct).ConfigureAwait(false);
    }

    /// <summary>Negotiates over an already connected stream, which the client then owns.</summary>
    public static async Task<NbdClient> ConnectAsync(Stream stream, string exportName,
        NbdClientOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(exportName);
        options ??= new NbdClientOptions();
        if (options.MaxInFlight < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxInFlight must be at least 1");
        }
        var client = new NbdClient(stream, options);
        try
        {
            using var timeout = new CancellationTokenSource(options.HandshakeTimeout, options.TimeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            try
            {
                await client.NegotiateAsync(exportName, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new TimeoutException("the NBD server did not finish the handshake in time");
            }
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        client._receiveLoop = Task.Run(client.ReceiveLoopAsync);
        return client;
    }

    // ---------------------------------------------------------------- commands

    /// <summary>Reads <paramref name="buffer"/>.Length bytes at <paramref name="offset"/> (split into max-payload requests).</summary>
    public Task ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct = default)
    {
        CheckRange(offset, buffer.Length);
        if (buffer.Length <= MaximumPayload)
        {
            return buffer.Length == 0 ? Task.CompletedTask
                : SendAsync(NbdWire.CmdRead, 0, offset, (uint)buffer.Length, default, buffer, ct);
        }
        var parts = new List<Task>();
        for (var done = 0; done < buffer.Length; done += MaximumPayload)
        {
            var n = Math.Min(MaximumPayload, buffer.Length - done);
            parts.Add(SendAsync(NbdWire.CmdRead, 0, offset + done, (uint)n, default, buffer.Slice(done, n), ct));
        }
        return Task.WhenAll(parts);
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>; with <paramref name="fua"/> it is durable when this returns.</summary>
    public Task WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua = false, CancellationToken ct = default)
    {
        CheckRange(offset, data.Length);
        var flags = fua ? NbdWire.CmdFlagFua : (ushort)0;
        if (data.Length <= MaximumPayload)
        {
            return data.Length == 0 ? Task.CompletedTask
                : SendAsync(NbdWire.CmdWrite, flags, offset, (uint)data.Length, data, default, ct);
        }
        var parts = new List<Task>();
        for (var done = 0; done < data.Length; done += MaximumPayload)
        {
            var n = Math.Min(MaximumPayload, data.Length - done);
            parts.Add(SendAsync(NbdWire.CmdWrite, flags, offset + done, (uint)n, data.Slice(done, n), default, ct));
        }
        return Task.WhenAll(parts);
    }

    /// <summary>Zeroes a range; <paramref name="noHole"/> keeps it allocated, <paramref name="fastZero"/> fails with ENOTSUP rather than writing slowly.</summary>
    public Task WriteZeroesAsync(long offset, long length, bool noHole = false, bool fastZero = false, bool fua = false,
        CancellationToken ct = default)
    {
        var flags = (ushort)((noHole ? NbdWire.CmdFlagNoHole : 0) | (fastZero ? NbdWire.CmdFlagFastZero : 0) | (fua ? NbdWire.CmdFlagFua : 0));
        return RangeCommandAsync(NbdWire.CmdWriteZeroes, flags, offset, length, ct);
    }

    /// <summary>Tells the server a range is no longer needed (it may punch a hole).</summary>
    public Task TrimAsync(long offset, long length, CancellationToken ct = default) =>
        RangeCommandAsync(NbdWire.CmdTrim, 0, offset, length, ct);

    /// <summary>Makes every write already completed durable.</summary>
    public Task FlushAsync(CancellationToken ct = default) =>
        SendAsync(NbdWire.CmdFlush, 0, 0, 0, default, default, ct);

    /// <summary>
    /// base:allocation extents starting at <paramref name="offset"/> (the server may describe less than
    /// <paramref name="length"/>; ask again from the end of the last extent).
    /// </summary>
    public async Task<IReadOnlyList<NbdExtent>> BlockStatusAsync(long offset, long length, bool requestOne = false,
        CancellationToken ct = default)
    {
        if (!HasBaseAllocation)
        {
            throw new NotSupportedException("the server did not agree to the base:allocation meta context");
        }
        CheckRange(offset, length);
        var request = (uint)Math.Min(length, uint.MaxValue & ~511u);
        var pending = await SendCoreAsync(NbdWire.CmdBlockStatus, requestOne ? NbdWire.CmdFlagReqOne : (ushort)0,
            offset, request, default, default, ct).ConfigureAwait(false);
        var extents = new List<NbdExtent>(pending.Extents?.Count ?? 0);
        var at = offset;
        foreach (var (extentLength, flags) in pending.Extents ?? [])
        {
            extents.Add(new NbdExtent(at, extentLength, (flags & NbdWire.StateHole) != 0, (flags & NbdWire.StateZero) != 0));
            at += extentLength;
        }
        return extents;
    }

    /// <summary>Sends NBD_CMD_DISC after outstanding requests finish, then closes.</summary>
    public async Task DisconnectAsync(CancellationToken ct = default)
    {
        if (_disconnected)
        {
            return;
        }
        // Wait for the window to drain so the server sees DISC after every request.
        for (var i = 0; i < _options.MaxInFlight; i++)
        {
            await _window.WaitAsync(ct).ConfigureAwait(false);
        }
        _disconnected = true;
        try
        {
            await _sendLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                NbdFrameWriter.WriteRequest(_output.GetSpan(NbdWire.RequestHeaderLength), 0, NbdWire.CmdDisc, NextCookie(), 0, 0);
                _output.Advance(NbdWire.RequestHeaderLength);
                await _output.FlushAsync(ct).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (IOException)
        {
            // Already gone: nothing left to say goodbye to.
        }
        _window.Release(_options.MaxInFlight);
        await CloseAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_disconnected && _receiveLoop is not null && _failure is null)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5), _options.TimeProvider);
                await DisconnectAsync(cts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
        await CloseAsync().ConfigureAwait(false);
    }

    private async Task CloseAsync()
    {
        if (!_closing.IsCancellationRequested)
        {
            await _closing.CancelAsync().ConfigureAwait(false);
        }
        await _stream.DisposeAsync().ConfigureAwait(false);
        if (_receiveLoop is not null)
        {
            await _receiveLoop.ConfigureAwait(false);
        }
        FailAll(new ObjectDisposedException(nameof(NbdClient)));
    }

    private void CheckRange(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (offset + length > Size)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"range {offset}+{length} is beyond the export size {Size}");
        }
    }

    private Task RangeCommandAsync(ushort command, ushort flags, long offset, long length, CancellationToken ct)
    {
        CheckRange(offset, length);
        // Lengths are u32 on the wire: split big ranges into 2 GiB requests.
        const long Step = 1L << 31;
        if (length <= Step)
        {
            return length == 0 ? Task.CompletedTask : SendAsync(command, flags, offset, (uint)length, default, default, ct);
        }
        var parts = new List<Task>();
        for (long done = 0; done < length; done += Step)
        {
            parts.Add(SendAsync(command, flags, offset + done, (uint)Math.Min(Step, length - done), default, default, ct));
        }
        return Task.WhenAll(parts);
    }

    private async Task SendAsync(ushort command, ushort flags, long offset, uint length, ReadOnlyMemory<byte> payload,
        Memory<byte> readBuffer, CancellationToken ct) =>
        await SendCoreAsync(command, flags, offset, length, payload, readBuffer, ct).ConfigureAwait(false);

    private async Task<Pending> SendCoreAsync(ushort command, ushort flags, long offset, uint length, ReadOnlyMemory<byte> payload,
        Memory<byte> readBuffer, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disconnected, this);
        await _window.WaitAsync(ct).ConfigureAwait(false);
        var pending = new Pending(command, (ulong)offset, length, readBuffer);
        try
        {
            await _sendLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                pending.Cookie = NextCookie();
                lock (_pending)
                {
                    // Checked under the lock FailAll takes, so no request can slip in after a failure.
                    if (_failure is not null)
                    {
                        throw new IOException("the NBD connection has failed", _failure);
                    }
                    _pending.Add(pending.Cookie, pending);
                }
                NbdFrameWriter.WriteRequest(_output.GetSpan(NbdWire.RequestHeaderLength), flags, command, pending.Cookie, (ulong)offset, length);
                _output.Advance(NbdWire.RequestHeaderLength);
                var direct = payload.Length >= DirectWriteThreshold;
                if (!payload.IsEmpty && !direct)
                {
                    _output.Write(payload.Span);
                }
                // Not cancellable: a half-sent request would corrupt the stream.
                var flushed = await _output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                if (flushed.IsCompleted)
                {
                    throw new IOException("the NBD connection is closed");
                }
                if (direct)
                {
                    // Big payloads go from the caller's memory to the stream, skipping a copy into the pipe.
                    await _stream.WriteAsync(payload, CancellationToken.None).ConfigureAwait(false);
                }
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch
        {
            lock (_pending)
            {
                _pending.Remove(pending.Cookie);
            }
            _window.Release();
            throw;
        }
        try
        {
            // Once sent, the request is the server's: wait for its reply (or the connection's end)
            // rather than let a cancelled caller reuse a buffer the reply is still being read into.
            await pending.Completion.Task.ConfigureAwait(false);
            return pending;
        }
        finally
        {
            _window.Release();
        }
    }

    private ulong NextCookie() => ++_nextCookie;

    // ---------------------------------------------------------------- replies

    private async Task ReceiveLoopAsync()
    {
        var ct = _closing.Token;
        Pending? reading = null;    // a simple READ reply whose data is still arriving
        var readDone = 0;
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                var consumed = buffer.Start;
                try
                {
                    while (true)
                    {
                        if (reading is not null)
                        {
                            var take = (int)Math.Min(buffer.Length, reading.Length - readDone);
                            if (take == 0)
                            {
                                break;
                            }
                            buffer.Slice(0, take).CopyTo(reading.ReadBuffer.Span[readDone..]);
                            readDone += take;
                            buffer = buffer.Slice(take);
                            consumed = buffer.Start;
                            if (readDone == reading.Length)
                            {
                                Complete(reading);
                                reading = null;
                            }
                            continue;
                        }
                        var end = consumed;
                        var examined = consumed;
                        if (!NbdReplyReader.TryParseReply(buffer, ref end, ref examined, out var reply))
                        {
                            break;
                        }
                        var pending = Find(reply.Cookie);
                        if (!reply.Structured)
                        {
                            buffer = buffer.Slice(end);
                            consumed = buffer.Start;
                            if (reply.Error != 0)
                            {
                                pending.Error = NbdException.FromError(reply.Error, NbdWire.CommandName(pending.Command), null);
                                Complete(pending);
                            }
                            else if (pending.Command == NbdWire.CmdRead)
                            {
                                if (StructuredReplies)
                                {
                                    throw new NbdProtocolException("simple reply with data after structured replies were agreed");
                                }
                                reading = pending;
                                readDone = 0;
                            }
                            else
                            {
                                Complete(pending);
                            }
                            continue;
                        }
                        HandleChunk(pending, reply);
                        buffer = buffer.Slice(end);
                        consumed = buffer.Start;
                        if (reply.Done)
                        {
                            Complete(pending);
                        }
                    }
                }
                finally
                {
                    _input.AdvanceTo(consumed, result.Buffer.End);
                }
                if (result.IsCompleted || result.IsCanceled)
                {
                    throw new IOException("the NBD server closed the connection");
                }
            }
        }
        catch (Exception ex)
        {
            var failure = ex is OperationCanceledException && ct.IsCancellationRequested
                ? new ObjectDisposedException(nameof(NbdClient))
                : ex;
            FailAll(failure);
        }
        finally
        {
            await _input.CompleteAsync().ConfigureAwait(false);
        }
    }

    private void HandleChunk(Pending pending, in NbdReply reply)
    {
        var data = reply.Data;
        switch (reply.ChunkType)
        {
            case NbdWire.ChunkNone:
                break;
            case NbdWire.ChunkOffsetData:
                {
                    var at = ChunkTarget(pending, data, data.Length - 8, out var target);
                    data.Slice(8).CopyTo(target.Span.Slice(at, (int)data.Length - 8));
                    break;
                }
            case NbdWire.ChunkOffsetHole:
                {
                    if (data.Length != 12)
                    {
                        throw new NbdProtocolException("OFFSET_HOLE chunk of the wrong length");
                    }
                    var size = ReadUInt32(data.Slice(8));
                    var at = ChunkTarget(pending, data, size, out var target);
                    target.Span.Slice(at, (int)size).Clear();
                    break;
                }
            case NbdWire.ChunkBlockStatus:
                {
                    if (pending.Command != NbdWire.CmdBlockStatus || data.Length < 12 || (data.Length - 4) % 8 != 0)
                    {
                        throw new NbdProtocolException("malformed BLOCK_STATUS chunk");
                    }
                    if (ReadUInt32(data) != _contextId)
                    {
                        break;  // a context we did not ask for
                    }
                    pending.Extents ??= [];
                    var rest = data.Slice(4);
                    while (rest.Length >= 8)
                    {
                        pending.Extents.Add((ReadUInt32(rest), ReadUInt32(rest.Slice(4))));
                        rest = rest.Slice(8);
                    }
                    break;
                }
            case NbdWire.ChunkError:
            case NbdWire.ChunkErrorOffset:
                {
                    if (data.Length < 6)
                    {
                        throw new NbdProtocolException("ERROR chunk too short");
                    }
                    var error = ReadUInt32(data);
                    Span<byte> lengthBytes = stackalloc byte[2];
                    data.Slice(4, 2).CopyTo(lengthBytes);
                    var messageLength = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(lengthBytes), (int)data.Length - 6);
                    var message = Encoding.UTF8.GetString(data.Slice(6, messageLength));
                    pending.Error ??= NbdException.FromError(error, NbdWire.CommandName(pending.Command), message);
                    break;
                }
            default:
                if ((reply.ChunkType & 0x8000) != 0)
                {
                    // Unknown error chunk types still carry an error (spec: treat as EINVAL when unknown).
                    pending.Error ??= NbdException.FromError(data.Length >= 4 ? ReadUInt32(data) : 22,
                        NbdWire.CommandName(pending.Command), null);
                    break;
                }
                throw new NbdProtocolException($"unknown reply chunk type {reply.ChunkType}");
        }
    }

    /// <summary>Checks that a data/hole chunk lies inside its READ and returns where it goes.</summary>
    private static int ChunkTarget(Pending pending, in ReadOnlySequence<byte> data, long length, out Memory<byte> target)
    {
        if (pending.Command != NbdWire.CmdRead || data.Length < 8)
        {
            throw new NbdProtocolException("data chunk for a request that is not a READ");
        }
        var offset = ReadUInt64(data);
        if (offset < pending.Offset || length < 0 || offset - pending.Offset + (ulong)length > pending.Length)
        {
            throw new NbdProtocolException("reply chunk outside the requested range");
        }
        target = pending.ReadBuffer;
        return (int)(offset - pending.Offset);
    }

    private Pending Find(ulong cookie)
    {
        lock (_pending)
        {
            if (_pending.TryGetValue(cookie, out var pending))
            {
                return pending;
            }
        }
        throw new NbdProtocolException($"reply for unknown cookie {cookie}");
    }

    private void Complete(Pending pending)
    {
        lock (_pending)
        {
            _pending.Remove(pending.Cookie);
        }
        if (pending.Error is { } error)
        {
            pending.Completion.TrySetException(error);
        }
        else
        {
            pending.Completion.TrySetResult();
        }
    }

    private void FailAll(Exception failure)
    {
        List<Pending> all;
        lock (_pending)
        {
            _failure ??= failure;
            all = [.. _pending.Values];
            _pending.Clear();
        }
        foreach (var pending in all)
        {
            pending.Completion.TrySetException(failure is IOException or ObjectDisposedException
                ? failure
                : new IOException("the NBD connection failed", failure));
        }
    }

    private static uint ReadUInt32(in ReadOnlySequence<byte> data)
    {
        Span<byte> bytes = stackalloc byte[4];
        data.Slice(0, 4).CopyTo(bytes);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    private static ulong ReadUInt64(in ReadOnlySequence<byte> data)
    {
        Span<byte> bytes = stackalloc byte[8];
        data.Slice(0, 8).CopyTo(bytes);
        return BinaryPrimitives.ReadUInt64BigEndian(bytes);
    }

    // ---------------------------------------------------------------- handshake

    private async Task NegotiateAsync(string exportName, CancellationToken ct)
    {
        var greeting = await ReadFrameAsync(static (in ReadOnlySequence<byte> b, ref SequencePosition c, ref SequencePosition e) =>
            (NbdReplyReader.TryParseGreeting(b, ref c, ref e, out var g), g), ct).ConfigureAwait(false);
        var fixedNewstyle = (greeting.HandshakeFlags & NbdWire.FlagFixedNewstyle) != 0;
        var noZeroes = (greeting.HandshakeFlags & NbdWire.FlagNoZeroes) != 0;
        var clientFlags = (fixedNewstyle ? NbdWire.ClientFlagFixedNewstyle : 0) | (noZeroes ? NbdWire.ClientFlagNoZeroes : 0);
        var flagBytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(flagBytes, clientFlags);
        await WriteAndFlushAsync(flagBytes, ct).ConfigureAwait(false);
        ExportName = exportName;

        if (!fixedNewstyle)
        {
            // Plain newstyle servers only understand EXPORT_NAME.
            await ExportNameAsync(exportName, noZeroes, ct).ConfigureAwait(false);
            return;
        }

        if (_options.StructuredReplies)
        {
            await SendOptionAsync(NbdWire.OptStructuredReply, [], ct).ConfigureAwait(false);
            var reply = await ReadOptionReplyAsync(NbdWire.OptStructuredReply, ct).ConfigureAwait(false);
            StructuredReplies = reply.Type == NbdWire.RepAck;
        }
        if (StructuredReplies)
        {
            await SetMetaContextAsync(exportName, ct).ConfigureAwait(false);
        }

        // GO: u32 name length | name | u16 count | u16 BLOCK_SIZE
        var name = Encoding.UTF8.GetBytes(exportName);
        var go = new byte[4 + name.Length + 2 + 2];
        BinaryPrimitives.WriteUInt32BigEndian(go, (uint)name.Length);
        name.CopyTo(go, 4);
        BinaryPrimitives.WriteUInt16BigEndian(go.AsSpan(4 + name.Length), 1);
        BinaryPrimitives.WriteUInt16BigEndian(go.AsSpan(6 + name.Length), NbdWire.InfoBlockSize);
        await SendOptionAsync(NbdWire.OptGo, go, ct).ConfigureAwait(false);
        var gotExport = false;
        while (true)
        {
            var reply = await ReadOptionReplyAsync(NbdWire.OptGo, ct).ConfigureAwait(false);
            if (reply.Type == NbdWire.RepErrUnsup)
            {
                // A server without GO: fall back to EXPORT_NAME (which cannot report errors).
                await ExportNameAsync(exportName, noZeroes, ct).ConfigureAwait(false);
                return;
            }
            if (reply.IsError)
            {
                throw OptionError(NbdWire.OptGo, reply);
            }
            if (reply.Type == NbdWire.RepAck)
            {
                if (!gotExport)
                {
                    throw new NbdProtocolException("GO succeeded without NBD_INFO_EXPORT");
                }
                return;
            }
            if (reply.Type == NbdWire.RepInfo && reply.Data.Length >= 2)
            {
                var info = reply.Data.ToArray();
                var type = BinaryPrimitives.ReadUInt16BigEndian(info);
                if (type == NbdWire.InfoExport && info.Length == 12)
                {
                    Size = checked((long)BinaryPrimitives.ReadUInt64BigEndian(info.AsSpan(2)));
                    TransmissionFlags = BinaryPrimitives.ReadUInt16BigEndian(info.AsSpan(10));
                    gotExport = true;
                }
                else if (type == NbdWire.InfoBlockSize && info.Length == 14)
                {
                    MinimumBlockSize = (int)Math.Max(1, BinaryPrimitives.ReadUInt32BigEndian(info.AsSpan(2)));
                    PreferredBlockSize = (int)Math.Max(1, BinaryPrimitives.ReadUInt32BigEndian(info.AsSpan(6)));
                    var max = BinaryPrimitives.ReadUInt32BigEndian(info.AsSpan(10));
                    MaximumPayload = (int)Math.Clamp(max, (uint)MinimumBlockSize, (uint)NbdWire.MaxPayload);
                }
            }
        }
    }

    private async Task SetMetaContextAsync(string exportName, CancellationToken ct)
    {
        // u32 name length | name | u32 query count | u32 length | "base:allocation"
        var name = Encoding.UTF8.GetBytes(exportName);
        var query = Encoding.UTF8.GetBytes(NbdWire.BaseAllocation);
        var data = new byte[4 + name.Length + 4 + 4 + query.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4 + name.Length), 1);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8 + name.Length), (uint)query.Length);
        query.CopyTo(data, 12 + name.Length);
        await SendOptionAsync(NbdWire.OptSetMetaContext, data, ct).ConfigureAwait(false);
        while (true)
        {
            var reply = await ReadOptionReplyAsync(NbdWire.OptSetMetaContext, ct).ConfigureAwait(false);
            if (reply.Type == NbdWire.RepMetaContext && reply.Data.Length >= 4)
            {
                var bytes = reply.Data.ToArray();
                if (Encoding.UTF8.GetString(bytes.AsSpan(4)) == NbdWire.BaseAllocation)
                {
                    _contextId = BinaryPrimitives.ReadUInt32BigEndian(bytes);
                    HasBaseAllocation = true;
                }
                continue;
            }
            // ACK ends the list; an error just means no block status.
            return;
        }
    }

    private async Task ExportNameAsync(string exportName, bool noZeroes, CancellationToken ct)
    {
        StructuredReplies = false;
        HasBaseAllocation = false;
        await SendOptionAsync(NbdWire.OptExportName, Encoding.UTF8.GetBytes(exportName), ct).ConfigureAwait(false);
        try
        {
            var (size, flags) = await ReadFrameAsync((in ReadOnlySequence<byte> b, ref SequencePosition c, ref SequencePosition e) =>
                (NbdReplyReader.TryParseExportNameReply(b, noZeroes, ref c, ref e, out var s, out var f), (s, f)), ct).ConfigureAwait(false);
            Size = checked((long)size);
            TransmissionFlags = flags;
        }
        catch (IOException ex) when (ex is not NbdProtocolException)
        {
            throw new NbdException("ERR_UNKNOWN", $"the server closed the connection on export '{exportName}'", NbdError.None);
        }
    }

    private async Task SendOptionAsync(uint option, byte[] data, CancellationToken ct)
    {
        NbdFrameWriter.WriteOption(_output.GetSpan(NbdWire.OptionHeaderLength), option, (uint)data.Length);
        _output.Advance(NbdWire.OptionHeaderLength);
        await WriteAndFlushAsync(data, ct).ConfigureAwait(false);
    }

    private async Task WriteAndFlushAsync(byte[] data, CancellationToken ct)
    {
        _output.Write(data);
        var result = await _output.FlushAsync(ct).ConfigureAwait(false);
        if (result.IsCompleted)
        {
            throw new IOException("the NBD connection is closed");
        }
    }

    private async Task<(uint Type, bool IsError, ReadOnlySequence<byte> Data)> ReadOptionReplyAsync(uint option, CancellationToken ct)
    {
        var (reply, data) = await ReadFrameAsync(static (in ReadOnlySequence<byte> b, ref SequencePosition c, ref SequencePosition e) =>
        {
            var ok = NbdReplyReader.TryParseOptionReply(b, ref c, ref e, out var r);
            // The slice dies at AdvanceTo: copy the (small) option data.
            return (ok, (r, ok ? r.Data.ToArray() : []));
        }, ct).ConfigureAwait(false);
        if (reply.Option != option)
        {
            throw new NbdProtocolException($"reply to option {reply.Option} while waiting for {NbdWire.OptionName(option)}");
        }
        return (reply.Type, reply.IsError, new ReadOnlySequence<byte>(data));
    }

    private static NbdException OptionError(uint option, (uint Type, bool IsError, ReadOnlySequence<byte> Data) reply)
    {
        var name = NbdWire.OptionReplyName(reply.Type);
        var message = reply.Data.IsEmpty ? $"{NbdWire.OptionName(option)} refused" : Encoding.UTF8.GetString(reply.Data);
        return new NbdException(name, message);
    }

    private delegate (bool Ok, T Value) FrameParser<T>(in ReadOnlySequence<byte> buffer, ref SequencePosition consumed, ref SequencePosition examined);

    private async Task<T> ReadFrameAsync<T>(FrameParser<T> parse, CancellationToken ct)
    {
        while (true)
        {
            var result = await _input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            try
            {
                var (ok, value) = parse(buffer, ref consumed, ref examined);
                if (ok)
                {
                    return value;
                }
            }
            finally
            {
                _input.AdvanceTo(consumed, examined);
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                throw new IOException("the NBD server closed the connection during the handshake");
            }
        }
    }

    private sealed class Pending(ushort command, ulong offset, uint length, Memory<byte> readBuffer)
    {
        public ushort Command { get; } = command;
        public ulong Offset { get; } = offset;
        public uint Length { get; } = length;
        public Memory<byte> ReadBuffer { get; } = readBuffer;
        public ulong Cookie { get; set; }
        public NbdException? Error { get; set; }
        public List<(uint Length, uint Flags)>? Extents { get; set; }
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
