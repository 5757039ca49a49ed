using System.Buffers;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>What <see cref="NbdDirectReceiver"/> found on the wire, in wire order, on the receiving thread.</summary>
internal interface INbdRequestSink
{
    /// <summary>Any request other than WRITE and DISC.</summary>
    void OnRequest(in NbdRequest request);

    /// <summary>A WRITE header; its payload follows in <see cref="OnWriteData"/> calls (none when the length is 0).</summary>
    void OnWriteStart(in NbdRequest request);

    /// <summary>The next piece of the current WRITE's payload, for the export offset <paramref name="offset"/>.</summary>
    void OnWriteData(ReadOnlySpan<byte> data, long offset);

    /// <summary>The current WRITE's payload has all arrived.</summary>
    void OnWriteEnd(in NbdRequest request);

    /// <summary>Everything received so far is handled and the receiver is about to wait for more bytes.</summary>
    void OnIdle();
}

/// <summary>
/// Transmission-phase receive loop for a blocking transport (a socket owned by one thread): bytes
/// are received into one pooled buffer and WRITE payloads go to the sink straight from it — no
/// pipe, no thread-pool hop per read. The wire format is parsed by <see cref="NbdRequestReader"/>.
/// </summary>
internal sealed class NbdDirectReceiver
{
    // A partial WRITE payload is handed on once this much of it is buffered (fewer, larger pwrites).
    internal const int MinPartialWrite = 32 * 1024;
    private const int MinBufferSize = 4 * MinPartialWrite;
    // Buffered bytes are moved to the front when less than this is free behind them.
    private const int MinReceiveSpace = 2 * MinPartialWrite;

    private readonly Func<Memory<byte>, int> _receive;
    private readonly int _bufferSize;

    /// <param name="receive">Blocks until at least one byte arrived (returns the count) or the peer closed (returns 0).</param>
    public NbdDirectReceiver(Func<Memory<byte>, int> receive, int bufferSize)
    {
        _receive = receive;
        _bufferSize = Math.Max(bufferSize, MinBufferSize);
    }

    /// <summary>
    /// Runs until DISC (returns true) or a clean end of stream between requests (returns false).
    /// <paramref name="initial"/> holds bytes already received after the handshake.
    /// Throws <see cref="NbdProtocolException"/> on malformed or truncated input.
    /// </summary>
    public bool Run(ReadOnlySpan<byte> initial, INbdRequestSink sink)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(_bufferSize, initial.Length));
        try
        {
            initial.CopyTo(buffer);
            var start = 0;
            var end = initial.Length;
            NbdRequest write = default;
            long writeRemaining = 0;
            long writeOffset = 0;
            while (true)
            {
                // Handle everything complete in [start, end).
                while (true)
                {
                    if (writeRemaining > 0)
                    {
                        var take = (int)Math.Min(end - start, writeRemaining);
                        if (take == 0 || (take < writeRemaining && take < MinPartialWrite))
                        {
                            break;
                        }
                        sink.OnWriteData(buffer.AsSpan(start, take), writeOffset);
                        start += take;
                        writeOffset += take;
                        writeRemaining -= take;
                        if (writeRemaining == 0)
                        {
                            sink.OnWriteEnd(write);
                        }
                        continue;
                    }
                    var pending = new ReadOnlySequence<byte>(buffer, start, end - start);
                    var consumed = pending.Start;
                    var examined = pending.End;
                    if (!NbdRequestReader.TryParseRequest(pending, ref consumed, ref examined, out var request))
                    {
                        break;
                    }
                    start += NbdWire.RequestHeaderLength;
                    if (request.Type == NbdWire.CmdWrite)
                    {
                        write = request;
                        writeRemaining = request.Length;
                        writeOffset = (long)request.Offset;
                        sink.OnWriteStart(request);
                        if (writeRemaining == 0)
                        {
                            sink.OnWriteEnd(request);
                        }
                        continue;
                    }
                    if (request.Type == NbdWire.CmdDisc)
                    {
                        return true;
                    }
                    sink.OnRequest(request);
                }

                // What is left is a partial header or a partial payload under MinPartialWrite.
                if (start == end)
                {
                    start = end = 0;
                }
                else if (buffer.Length - end < MinReceiveSpace)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }
                sink.OnIdle();
                var n = _receive(buffer.AsMemory(end));
                if (n <= 0)
                {
                    if (writeRemaining > 0 || end > start)
                    {
                        throw new NbdProtocolException("connection closed in the middle of a request");
                    }
                    return false;
                }
                end += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
