using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>
/// One client of the server: the fixed-newstyle handshake, then transmission. WRITE payloads are
/// written straight from the receive buffers as they arrive (no copy, no 32 MiB buffering); every
/// other request runs concurrently and replies through the single <see cref="NbdReplyWriter"/>.
/// With a blocking socket (the TCP listener's connections, each on its own thread) transmission
/// runs in <see cref="NbdDirectReceiver"/> and WRITE replies are batched; otherwise (tunnel
/// streams, pipes) it reads the input pipe.
/// </summary>
internal sealed class NbdServerConnection
{
    // A partial WRITE payload is written once this much of it has arrived (or all of it); below the
    // default Pipe pause threshold (64 KiB) so a caller's pipe can never stall us.
    private const int MinPartialWrite = 32 * 1024;
    private const int MaxExtentsPerReply = 2048;
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(30);

    private readonly IDuplexPipe _transport;
    private readonly NbdExportTable _exports;
    private readonly NbdServerOptions _options;
    private readonly ILogger _logger;
    private readonly long _id;
    private readonly NbdReplyWriter _replies;
    private readonly SemaphoreSlim _inFlight;
    private readonly List<ReadOnlyMemory<byte>> _segments = new(64);
    private readonly Socket? _blockingSocket;

    private bool _noZeroes;
    private bool _structured;
    private string? _metaContextExport;
    private NbdBackingFile? _file;
    private string _exportName = "";
    private CancellationToken _abort;

    /// <param name="directOutput">The stream under <paramref name="transport"/>'s output, for large READ data and synchronous replies.</param>
    /// <param name="blockingSocket">
    /// The socket under <paramref name="transport"/> when every call on it blocks (a
    /// <see cref="BlockingSocketStream"/>): transmission then receives from it directly.
    /// </param>
    public NbdServerConnection(IDuplexPipe transport, NbdExportTable exports, NbdServerOptions options, ILogger logger, long id,
        Stream? directOutput = null, Socket? blockingSocket = null)
    {
        if (blockingSocket is not null && directOutput is null)
        {
            throw new ArgumentException("a blocking socket needs its direct output stream", nameof(directOutput));
        }
        _blockingSocket = blockingSocket;
        _transport = transport;
        _exports = exports;
        _options = options;
        _logger = logger;
        _id = id;
        _replies = new NbdReplyWriter(transport.Output, directOutput);
        _inFlight = new SemaphoreSlim(options.MaxRequestsInFlight, options.MaxRequestsInFlight);
    }

    public async Task RunAsync(CancellationToken ct)
    {
        Exception? failure = null;
        // Cancels replies still queued when the connection dies (a client that stopped reading
        // must not keep requests, and so the connection, alive).
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _abort = abort.Token;
        // A blocked socket call does not watch a token: shutting the socket down wakes it.
        using var stopping = _blockingSocket is null ? default : ct.UnsafeRegister(static s => ShutdownSocket((Socket)s!), _blockingSocket);
        try
        {
            bool transmit;
            using (var timeout = new CancellationTokenSource(_options.HandshakeTimeout, _options.TimeProvider))
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token))
            using (_blockingSocket is null ? default : timeout.Token.UnsafeRegister(static s => ShutdownSocket((Socket)s!), _blockingSocket))
            {
                try
                {
                    transmit = await HandshakeAsync(handshake.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or NbdProtocolException
                    && timeout.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    throw new NbdProtocolException("handshake timed out");
                }
                if (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    throw new NbdProtocolException("handshake timed out");
                }
            }
            if (transmit && _blockingSocket is not null)
            {
                TransmitBlocking(_blockingSocket, ct);
            }
            else if (transmit)
            {
                await TransmitAsync(ct).ConfigureAwait(false);
            }
        }
        catch (NbdProtocolException ex)
        {
            NbdLog.ProtocolError(_logger, _id, ex.Message);
            failure = ex;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (IOException ex)
        {
            NbdLog.ConnectionLost(_logger, _id, ex.Message);
            failure = ex;
        }
        catch (Exception ex)
        {
            // Never let one connection take the process down.
            NbdLog.ConnectionFailed(_logger, _id, ex);
            failure = ex;
        }
        finally
        {
            if (failure is not null)
            {
                await abort.CancelAsync().ConfigureAwait(false);
            }
            await DrainAsync(abort).ConfigureAwait(false);
            _file?.Dispose();
            await _transport.Input.CompleteAsync(failure).ConfigureAwait(false);
            await _transport.Output.CompleteAsync(failure).ConfigureAwait(false);
            NbdLog.ConnectionClosed(_logger, _id);
        }
    }

    // ---------------------------------------------------------------- handshake

    private async Task<bool> HandshakeAsync(CancellationToken ct)
    {
        var output = _transport.Output;
        var greeting = output.GetSpan(NbdReplyReader.GreetingLength);
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdWire.NbdMagic);
        BinaryPrimitives.WriteUInt64BigEndian(greeting[8..], NbdWire.IHaveOpt);
        BinaryPrimitives.WriteUInt16BigEndian(greeting[16..], NbdWire.FlagFixedNewstyle | NbdWire.FlagNoZeroes);
        output.Advance(NbdReplyReader.GreetingLength);
        await FlushHandshakeAsync(ct).ConfigureAwait(false);

        var clientFlags = await ReadClientFlagsAsync(ct).ConfigureAwait(false);
        if (clientFlags is null)
        {
            return false;
        }
        if ((clientFlags.Value & ~NbdWire.KnownClientFlags) != 0)
        {
            throw new NbdProtocolException($"unknown client flags 0x{clientFlags.Value:x8}");
        }
        _noZeroes = (clientFlags.Value & NbdWire.ClientFlagNoZeroes) != 0;

        while (true)
        {
            var option = await ReadOptionAsync(ct).ConfigureAwait(false);
            if (option is null)
            {
                return false;
            }
            var (code, data) = option.Value;
            switch (code)
            {
                case NbdWire.OptAbort:
                    WriteOptionReply(code, NbdWire.RepAck, []);
                    await FlushHandshakeAsync(ct).ConfigureAwait(false);
                    return false;
                case NbdWire.OptList:
                    HandleList(data);
                    break;
                case NbdWire.OptStructuredReply:
                    if (data.Length != 0)
                    {
                        WriteOptionError(code, NbdWire.RepErrInvalid, "STRUCTURED_REPLY carries no data");
                    }
                    else
                    {
                        _structured = true;
                        WriteOptionReply(code, NbdWire.RepAck, []);
                    }
                    break;
                case NbdWire.OptListMetaContext:
                case NbdWire.OptSetMetaContext:
                    HandleMetaContext(code, data);
                    break;
                case NbdWire.OptInfo:
                case NbdWire.OptGo:
                    if (HandleInfoOrGo(code, data))
                    {
                        await FlushHandshakeAsync(ct).ConfigureAwait(false);
                        return true;
                    }
                    break;
                case NbdWire.OptExportName:
                    // No way to refuse here except hanging up (the spec's hard disconnect).
                    if (!HandleExportName(data))
                    {
                        return false;
                    }
                    await FlushHandshakeAsync(ct).ConfigureAwait(false);
                    return true;
                default:
                    NbdLog.OptionUnsupported(_logger, _id, NbdWire.OptionName(code));
                    WriteOptionError(code, NbdWire.RepErrUnsup, $"option {code} is not supported");
                    break;
            }
            await FlushHandshakeAsync(ct).ConfigureAwait(false);
        }
    }

    private void HandleList(byte[] data)
    {
        if (data.Length != 0)
        {
            WriteOptionError(NbdWire.OptList, NbdWire.RepErrInvalid, "LIST carries no data");
            return;
        }
        foreach (var export in _exports.Snapshot())
        {
            var name = Encoding.UTF8.GetBytes(export.Name);
            var reply = new byte[4 + name.Length];
            BinaryPrimitives.WriteUInt32BigEndian(reply, (uint)name.Length);
            name.CopyTo(reply, 4);
            WriteOptionReply(NbdWire.OptList, NbdWire.RepServer, reply);
        }
        WriteOptionReply(NbdWire.OptList, NbdWire.RepAck, []);
    }

    private void HandleMetaContext(uint code, byte[] data)
    {
        // u32 name length | name | u32 query count | { u32 length | query } × count
        var reader = new SpanReader(data);
        if (!reader.TryReadString(out var exportName) || !reader.TryReadUInt32(out var count))
        {
            WriteOptionError(code, NbdWire.RepErrInvalid, "malformed meta context request");
            return;
        }
        var queries = new List<string>();
        for (var i = 0u; i < count; i++)
        {
            if (!reader.TryReadString(out var query))
            {
                WriteOptionError(code, NbdWire.RepErrInvalid, "malformed meta context query");
                return;
            }
            queries.Add(query);
        }
        if (!reader.AtEnd)
        {
            WriteOptionError(code, NbdWire.RepErrInvalid, "trailing bytes in meta context request");
            return;
        }
        if (code == NbdWire.OptSetMetaContext && !_structured)
        {
            WriteOptionError(code, NbdWire.RepErrInvalid, "SET_META_CONTEXT needs structured replies first");
            return;
        }
        if (!_exports.TryGet(exportName, out _))
        {
            WriteOptionError(code, NbdWire.RepErrUnknown, $"export '{exportName}' does not exist");
            return;
        }
        bool selected;
        if (code == NbdWire.OptListMetaContext)
        {
            // "base:" is a wildcard for LIST only; an empty query list means "everything".
            selected = queries.Count == 0 || queries.Exists(q => q is NbdWire.BaseAllocation or "base:");
        }
        else
        {
            selected = queries.Contains(NbdWire.BaseAllocation);
            // SET replaces any earlier selection.
            _metaContextExport = selected ? exportName : null;
        }
        if (selected)
        {
            var name = Encoding.UTF8.GetBytes(NbdWire.BaseAllocation);
            var reply = new byte[4 + name.Length];
            BinaryPrimitives.WriteUInt32BigEndian(reply, code == NbdWire.OptSetMetaContext ? NbdWire.BaseAllocationContextId : 0);
            name.CopyTo(reply, 4);
            WriteOptionReply(code, NbdWire.RepMetaContext, reply);
        }
        WriteOptionReply(code, NbdWire.RepAck, []);
    }

    /// <returns>true when GO succeeded and transmission starts.</returns>
    private bool HandleInfoOrGo(uint code, byte[] data)
    {
        // u32 name length | name | u16 count | u16 × count
        var reader = new SpanReader(data);
        if (!reader.TryReadString(out var name) || !reader.TryReadUInt16(out var count))
        {
            WriteOptionError(code, NbdWire.RepErrInvalid, "malformed INFO/GO request");
            return false;
        }
        var requested = new List<ushort>(count);
        for (var i = 0; i < count; i++)
        {
            if (!reader.TryReadUInt16(out var type))
            {
                WriteOptionError(code, NbdWire.RepErrInvalid, "malformed INFO/GO request");
                return false;
            }
            requested.Add(type);
        }
        if (!reader.AtEnd)
        {
            WriteOptionError(code, NbdWire.RepErrInvalid, "trailing bytes in INFO/GO request");
            return false;
        }
        var file = TryOpen(name, out var definition, out var reason);
        if (file is null || definition is null)
        {
            WriteOptionError(code, NbdWire.RepErrUnknown, reason);
            return false;
        }
        var flags = TransmissionFlags(file.ReadOnly);
        var export = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(export, NbdWire.InfoExport);
        BinaryPrimitives.WriteUInt64BigEndian(export.AsSpan(2), (ulong)file.Size);
        BinaryPrimitives.WriteUInt16BigEndian(export.AsSpan(10), flags);
        WriteOptionReply(code, NbdWire.RepInfo, export);

        var nameBytes = Encoding.UTF8.GetBytes(definition.Name);
        var nameInfo = new byte[2 + nameBytes.Length];
        BinaryPrimitives.WriteUInt16BigEndian(nameInfo, NbdWire.InfoName);
        nameBytes.CopyTo(nameInfo, 2);
        WriteOptionReply(code, NbdWire.RepInfo, nameInfo);

        if (requested.Contains(NbdWire.InfoDescription) && !string.IsNullOrEmpty(definition.Description))
        {
            var text = Encoding.UTF8.GetBytes(definition.Description);
            var description = new byte[2 + Math.Min(text.Length, NbdWire.MaxStringLength)];
            BinaryPrimitives.WriteUInt16BigEndian(description, NbdWire.InfoDescription);
            text.AsSpan(0, description.Length - 2).CopyTo(description.AsSpan(2));
            WriteOptionReply(code, NbdWire.RepInfo, description);
        }

        var blockSize = new byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(blockSize, NbdWire.InfoBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(blockSize.AsSpan(2), NbdWire.MinBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(blockSize.AsSpan(6), NbdWire.PreferredBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(blockSize.AsSpan(10), NbdWire.MaxPayload);
        WriteOptionReply(code, NbdWire.RepInfo, blockSize);
        WriteOptionReply(code, NbdWire.RepAck, []);

        if (code == NbdWire.OptInfo)
        {
            file.Dispose();
            return false;
        }
        StartTransmission(file, definition.Name);
        return true;
    }

    private bool HandleExportName(byte[] data)
    {
        var name = Encoding.UTF8.GetString(data);
        var file = TryOpen(name, out _, out _);
        if (file is null)
        {
            return false;
        }
        var reply = new byte[NbdReplyReader.ExportNameReplyLength + (_noZeroes ? 0 : NbdReplyReader.ExportNameZeroPadding)];
        BinaryPrimitives.WriteUInt64BigEndian(reply, (ulong)file.Size);
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(8), TransmissionFlags(file.ReadOnly));
        _transport.Output.Write(reply);
        StartTransmission(file, name);
        return true;
    }

    private NbdBackingFile? TryOpen(string name, out NbdExportDefinition? definition, out string reason)
    {
        if (!_exports.TryGet(name, out definition))
        {
            reason = $"export '{name}' does not exist";
            NbdLog.ExportRefused(_logger, _id, name, reason);
            return null;
        }
        try
        {
            reason = "";
            return NbdBackingFile.Open(definition);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            reason = $"export '{name}' is unavailable: {ex.Message}";
            NbdLog.ExportRefused(_logger, _id, name, reason);
            return null;
        }
    }

    private void StartTransmission(NbdBackingFile file, string name)
    {
        _file = file;
        _exportName = name;
        _replies.Structured = _structured;
        NbdLog.ExportNegotiated(_logger, _id, name, file.Size, _structured);
    }

    private ushort TransmissionFlags(bool readOnly)
    {
        // One file, positional I/O and fsync on FLUSH: any connection's flush covers all, so multi-conn is safe.
        var flags = (ushort)(NbdWire.TxHasFlags | NbdWire.TxSendFlush | NbdWire.TxCanMultiConn | NbdWire.TxSendCache);
        if (_structured)
        {
            flags |= NbdWire.TxSendDf;
        }
        if (readOnly)
        {
            flags |= NbdWire.TxReadOnly;
        }
        else
        {
            flags |= NbdWire.TxSendFua | NbdWire.TxSendTrim | NbdWire.TxSendWriteZeroes | NbdWire.TxSendFastZero;
        }
        return flags;
    }

    private void WriteOptionReply(uint option, uint type, ReadOnlySpan<byte> data)
    {
        var output = _transport.Output;
        NbdFrameWriter.WriteOptionReply(output.GetSpan(NbdWire.OptionReplyHeaderLength), option, type, (uint)data.Length);
        output.Advance(NbdWire.OptionReplyHeaderLength);
        output.Write(data);
    }

    private void WriteOptionError(uint option, uint type, string message) =>
        WriteOptionReply(option, type, Encoding.UTF8.GetBytes(message));

    private async ValueTask FlushHandshakeAsync(CancellationToken ct)
    {
        var result = await _transport.Output.FlushAsync(ct).ConfigureAwait(false);
        if (result.IsCompleted || result.IsCanceled)
        {
            throw new IOException("the NBD client went away during the handshake");
        }
    }

    private async ValueTask<uint?> ReadClientFlagsAsync(CancellationToken ct)
    {
        var input = _transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            try
            {
                if (NbdRequestReader.TryParseClientFlags(buffer, ref consumed, ref examined, out var flags))
                {
                    return flags;
                }
            }
            finally
            {
                input.AdvanceTo(consumed, examined);
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                return null;
            }
        }
    }

    private async ValueTask<(uint Code, byte[] Data)?> ReadOptionAsync(CancellationToken ct)
    {
        var input = _transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            try
            {
                if (NbdRequestReader.TryParseOption(buffer, ref consumed, ref examined, out var option))
                {
                    // Option data is small and the slice dies at AdvanceTo: keep a copy.
                    return (option.Option, option.Data.ToArray());
                }
            }
            finally
            {
                input.AdvanceTo(consumed, examined);
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                if (!buffer.IsEmpty)
                {
                    throw new NbdProtocolException("truncated option");
                }
                return null;
            }
        }
    }

    // ---------------------------------------------------------------- transmission

    private async Task TransmitAsync(CancellationToken ct)
    {
        var input = _transport.Input;
        var file = _file!;
        // The WRITE whose payload is arriving, if any.
        NbdRequest write = default;
        long writeRemaining = 0;
        long writeOffset = 0;
        var writeError = NbdError.None;
        Exception? writeException = null;

        while (true)
        {
            var result = await input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            var disconnect = false;
            try
            {
                while (true)
                {
                    if (writeRemaining > 0)
                    {
                        var available = buffer.Length;
                        var take = Math.Min(writeRemaining, available);
                        if (take == 0 || (take < writeRemaining && take < MinPartialWrite && !result.IsCompleted))
                        {
                            break;
                        }
                        var chunk = buffer.Slice(0, take);
                        if (writeError == NbdError.None)
                        {
                            try
                            {
                                WriteSegments(file, chunk, writeOffset);
                            }
                            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                            {
                                writeError = NbdBackingFile.ExceptionToNbd(ex);
                                writeException = ex;
                            }
                        }
                        writeOffset += take;
                        writeRemaining -= take;
                        buffer = buffer.Slice(take);
                        consumed = buffer.Start;
                        if (writeRemaining == 0)
                        {
                            await FinishWriteAsync(file, write, writeError, writeException, ct).ConfigureAwait(false);
                        }
                        continue;
                    }

                    var parsedEnd = consumed;
                    if (!NbdRequestReader.TryParseRequest(buffer, ref parsedEnd, ref examined, out var request))
                    {
                        break;
                    }
                    buffer = buffer.Slice(parsedEnd);
                    consumed = buffer.Start;
                    if (request.Type == NbdWire.CmdWrite)
                    {
                        write = request;
                        writeRemaining = request.Length;
                        writeOffset = (long)request.Offset;
                        writeException = null;
                        writeError = ValidateWrite(file, request);
                        if (writeRemaining == 0)
                        {
                            await FinishWriteAsync(file, write, writeError, null, ct).ConfigureAwait(false);
                        }
                        continue;
                    }
                    if (request.Type == NbdWire.CmdDisc)
                    {
                        disconnect = true;
                        break;
                    }
                    await _inFlight.WaitAsync(ct).ConfigureAwait(false);
                    _ = Task.Run(() => ProcessAsync(file, request, _abort), CancellationToken.None);
                }
            }
            finally
            {
                input.AdvanceTo(consumed, result.Buffer.End);
            }
            if (disconnect)
            {
                return;
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                if (writeRemaining > 0 || !buffer.IsEmpty)
                {
                    throw new NbdProtocolException("connection closed in the middle of a request");
                }
                return;
            }
        }
    }

    /// <summary>Transmission on the connection's own thread with blocking receives (see <see cref="NbdDirectReceiver"/>).</summary>
    private void TransmitBlocking(Socket socket, CancellationToken ct)
    {
        // Bytes the handshake's pipe reader already holds (a client that pipelined past GO).
        var initial = Array.Empty<byte>();
        if (_transport.Input.TryRead(out var buffered))
        {
            initial = buffered.Buffer.ToArray();
            _transport.Input.AdvanceTo(buffered.Buffer.End);
        }
        var sink = new BlockingSink(this, _file!);
        var receiver = new NbdDirectReceiver(memory => ReceiveBlocking(socket, memory.Span), _options.ReceiveBufferSize);
        try
        {
            receiver.Run(initial, sink);
            sink.SendBatchedReplies();
        }
        catch (Exception ex) when (ex is IOException or NbdProtocolException && ct.IsCancellationRequested)
        {
            throw new OperationCanceledException("the NBD server is stopping", ex, ct);
        }
        ct.ThrowIfCancellationRequested();
    }

    private static int ReceiveBlocking(Socket socket, Span<byte> buffer)
    {
        try
        {
            return socket.Receive(buffer);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            throw new IOException($"NBD receive failed: {ex.Message}", ex);
        }
    }

    private static void ShutdownSocket(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed: nothing left to wake.
        }
    }

    /// <summary>
    /// Runs what <see cref="NbdDirectReceiver"/> parses: WRITE payloads are written at once and
    /// their OK replies go out in one socket write before the thread waits for more input; other
    /// requests run concurrently on the thread pool as in the pipe path.
    /// </summary>
    private sealed class BlockingSink(NbdServerConnection owner, NbdBackingFile file) : INbdRequestSink
    {
        private const int MaxBatchedReplies = 128;

        private readonly ulong[] _oks = new ulong[MaxBatchedReplies];
        private int _okCount;
        private NbdError _writeError;
        private Exception? _writeException;

        public void OnRequest(in NbdRequest request)
        {
            owner._inFlight.Wait(owner._abort);
            var copy = request;
            _ = Task.Run(() => owner.ProcessAsync(file, copy, owner._abort), CancellationToken.None);
        }

        public void OnWriteStart(in NbdRequest request)
        {
            _writeError = ValidateWrite(file, request);
            _writeException = null;
        }

        public void OnWriteData(ReadOnlySpan<byte> data, long offset)
        {
            if (_writeError != NbdError.None)
            {
                return;
            }
            try
            {
                file.Write(data, offset);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _writeError = NbdBackingFile.ExceptionToNbd(ex);
                _writeException = ex;
            }
        }

        public void OnWriteEnd(in NbdRequest request)
        {
            var error = _writeError;
            if (error == NbdError.None && (request.Flags & NbdWire.CmdFlagFua) != 0)
            {
                error = file.DataSync();
            }
            if (error == NbdError.None)
            {
                _oks[_okCount++] = request.Cookie;
                if (_okCount == MaxBatchedReplies)
                {
                    SendBatchedReplies();
                }
                return;
            }
            NbdLog.RequestFailed(owner._logger, owner._id, "WRITE", request.Offset, request.Length, error, _writeException);
            owner._replies.SendError(request.Cookie, error, $"WRITE failed: {error}");
        }

        public void OnIdle() => SendBatchedReplies();

        public void SendBatchedReplies()
        {
            if (_okCount > 0)
            {
                owner._replies.SendOks(_oks.AsSpan(0, _okCount));
                _okCount = 0;
            }
        }
    }

    private void WriteSegments(NbdBackingFile file, in ReadOnlySequence<byte> data, long offset)
    {
        if (data.IsSingleSegment)
        {
            file.Write(data.FirstSpan, offset);
            return;
        }
        // pwritev straight from the pipe's segments: no copy into a staging buffer.
        _segments.Clear();
        foreach (var segment in data)
        {
            _segments.Add(segment);
        }
        file.Write(_segments, offset);
        _segments.Clear();
    }

    private static NbdError ValidateWrite(NbdBackingFile file, in NbdRequest request)
    {
        if ((request.Flags & ~NbdWire.AllowedFlags(NbdWire.CmdWrite)) != 0)
        {
            return NbdError.EINVAL;
        }
        if (file.ReadOnly)
        {
            return NbdError.EPERM;
        }
        if (request.Length == 0)
        {
            return NbdError.EINVAL;
        }
        return InRange(file, request) ? NbdError.None : NbdError.ENOSPC;
    }

    private async ValueTask FinishWriteAsync(NbdBackingFile file, NbdRequest request, NbdError error, Exception? exception, CancellationToken ct)
    {
        if (error == NbdError.None && (request.Flags & NbdWire.CmdFlagFua) != 0)
        {
            error = file.DataSync();
        }
        if (error == NbdError.None)
        {
            await _replies.SendOkAsync(request.Cookie, ct).ConfigureAwait(false);
            return;
        }
        NbdLog.RequestFailed(_logger, _id, "WRITE", request.Offset, request.Length, error, exception);
        await _replies.SendErrorAsync(request.Cookie, error, $"WRITE failed: {error}", ct).ConfigureAwait(false);
    }

    private static bool InRange(NbdBackingFile file, in NbdRequest request) =>
        request.Offset <= (ulong)file.Size && request.Length <= (ulong)file.Size - request.Offset;

    private async Task ProcessAsync(NbdBackingFile file, NbdRequest request, CancellationToken ct)
    {
        try
        {
            var error = NbdError.None;
            Exception? exception = null;
            try
            {
                error = await ExecuteAsync(file, request, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && ex is not NbdProtocolException)
            {
                error = NbdBackingFile.ExceptionToNbd(ex);
                exception = ex;
            }
            if (error != NbdError.None)
            {
                if (exception is not null || error is NbdError.EIO or NbdError.ENOSPC)
                {
                    NbdLog.RequestFailed(_logger, _id, NbdWire.CommandName(request.Type), request.Offset, request.Length, error, exception);
                }
                await _replies.SendErrorAsync(request.Cookie, error, $"{NbdWire.CommandName(request.Type)} failed: {error}", ct).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The reply could not be sent: the connection is going away and the read loop will notice.
            NbdLog.ConnectionLost(_logger, _id, ex.Message);
        }
        catch (Exception ex)
        {
            NbdLog.ConnectionFailed(_logger, _id, ex);
        }
        finally
        {
            _inFlight.Release();
        }
    }

    /// <summary>Runs one non-WRITE request; sends the success reply itself and returns the error otherwise.</summary>
    private async ValueTask<NbdError> ExecuteAsync(NbdBackingFile file, NbdRequest request, CancellationToken ct)
    {
        if ((request.Flags & ~NbdWire.AllowedFlags(request.Type)) != 0)
        {
            return NbdError.EINVAL;
        }
        switch (request.Type)
        {
            case NbdWire.CmdRead:
                {
                    if (request.Length == 0 || !InRange(file, request) || request.Length > NbdWire.MaxPayload)
                    {
                        return NbdError.EINVAL;
                    }
                    var length = (int)request.Length;
                    var buffer = ArrayPool<byte>.Shared.Rent(length);
                    try
                    {
                        var done = 0;
                        while (done < length)
                        {
                            var n = file.Read(buffer.AsSpan(done, length - done), (long)request.Offset + done);
                            if (n == 0)
                            {
                                // The file shrank under us: what is gone reads as zeroes.
                                buffer.AsSpan(done, length - done).Clear();
                                break;
                            }
                            done += n;
                        }
                        await _replies.SendReadAsync(request.Cookie, request.Offset, buffer.AsMemory(0, length), ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                    return NbdError.None;
                }
            case NbdWire.CmdFlush:
                {
                    var error = file.Flush();
                    if (error == NbdError.None)
                    {
                        await _replies.SendOkAsync(request.Cookie, ct).ConfigureAwait(false);
                    }
                    return error;
                }
            case NbdWire.CmdTrim:
                {
                    if (file.ReadOnly)
                    {
                        return NbdError.EPERM;
                    }
                    if (request.Length == 0 || !InRange(file, request))
                    {
                        return NbdError.EINVAL;
                    }
                    var error = file.Trim((long)request.Offset, request.Length);
                    if (error == NbdError.None && (request.Flags & NbdWire.CmdFlagFua) != 0)
                    {
                        error = file.DataSync();
                    }
                    if (error == NbdError.None)
                    {
                        await _replies.SendOkAsync(request.Cookie, ct).ConfigureAwait(false);
                    }
                    return error;
                }
            case NbdWire.CmdWriteZeroes:
                {
                    if (file.ReadOnly)
                    {
                        return NbdError.EPERM;
                    }
                    if (request.Length == 0)
                    {
                        return NbdError.EINVAL;
                    }
                    if (!InRange(file, request))
                    {
                        return NbdError.ENOSPC;
                    }
                    var error = file.WriteZeroes((long)request.Offset, request.Length,
                        noHole: (request.Flags & NbdWire.CmdFlagNoHole) != 0,
                        fast: (request.Flags & NbdWire.CmdFlagFastZero) != 0);
                    if (error == NbdError.None && (request.Flags & NbdWire.CmdFlagFua) != 0)
                    {
                        error = file.DataSync();
                    }
                    if (error == NbdError.None)
                    {
                        await _replies.SendOkAsync(request.Cookie, ct).ConfigureAwait(false);
                    }
                    return error;
                }
            case NbdWire.CmdCache:
                {
                    if (!InRange(file, request))
                    {
                        return NbdError.EINVAL;
                    }
                    file.Cache((long)request.Offset, request.Length);
                    await _replies.SendOkAsync(request.Cookie, ct).ConfigureAwait(false);
                    return NbdError.None;
                }
            case NbdWire.CmdBlockStatus:
                {
                    if (!_structured || _metaContextExport != _exportName)
                    {
                        return NbdError.EINVAL;
                    }
                    if (request.Length == 0 || !InRange(file, request))
                    {
                        return NbdError.EINVAL;
                    }
                    var max = (request.Flags & NbdWire.CmdFlagReqOne) != 0 ? 1 : MaxExtentsPerReply;
                    var extents = new List<(uint, uint)>();
                    file.BlockStatus((long)request.Offset, request.Length, max, extents);
                    await _replies.SendBlockStatusAsync(request.Cookie, NbdWire.BaseAllocationContextId, extents, ct).ConfigureAwait(false);
                    return NbdError.None;
                }
            default:
                return NbdError.EINVAL;
        }
    }

    private async Task DrainAsync(CancellationTokenSource abort)
    {
        // After DISC or EOF, outstanding requests finish and reply, within a bounded time; after
        // that (or at once on failure, via abort) their replies are cancelled.
        using var timeout = new CancellationTokenSource(DrainTimeout, _options.TimeProvider);
        for (var i = 0; i < _options.MaxRequestsInFlight; i++)
        {
            try
            {
                await _inFlight.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await abort.CancelAsync().ConfigureAwait(false);
                await _inFlight.WaitAsync().ConfigureAwait(false);
            }
        }
        _inFlight.Release(_options.MaxRequestsInFlight);
    }

    /// <summary>Big-endian reader over option data that reports malformed input instead of throwing.</summary>
    private ref struct SpanReader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public readonly bool AtEnd => _rest.IsEmpty;

        public bool TryReadUInt16(out ushort value)
        {
            value = 0;
            if (_rest.Length < 2)
            {
                return false;
            }
            value = BinaryPrimitives.ReadUInt16BigEndian(_rest);
            _rest = _rest[2..];
            return true;
        }

        public bool TryReadUInt32(out uint value)
        {
            value = 0;
            if (_rest.Length < 4)
            {
                return false;
            }
            value = BinaryPrimitives.ReadUInt32BigEndian(_rest);
            _rest = _rest[4..];
            return true;
        }

        public bool TryReadString(out string value)
        {
            value = "";
            if (!TryReadUInt32(out var length) || length > NbdWire.MaxStringLength || length > _rest.Length)
            {
                return false;
            }
            value = Encoding.UTF8.GetString(_rest[..(int)length]);
            _rest = _rest[(int)length..];
            return true;
        }
    }
}
