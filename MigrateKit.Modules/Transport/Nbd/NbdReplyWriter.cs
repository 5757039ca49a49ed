using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>
/// The single writer of transmission replies for one server connection: requests finish
/// concurrently, so every reply is framed and flushed under one lock and never interleaves.
/// </summary>
internal sealed class NbdReplyWriter(PipeWriter output, Stream? directOutput = null)
{
    // READ data at least this big goes from its pooled buffer straight to the stream (when the
    // transport is one), skipping a copy into the pipe.
    private const int DirectWriteThreshold = 64 * 1024;
    // An error reply: chunk header, u32 error, u16 length, a message of at most 200 UTF-16 units.
    private const int MaxErrorReplyLength = NbdWire.ChunkHeaderLength + 6 + (200 * 3);

    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>Set once STRUCTURED_REPLY was agreed; READ data and errors then go in chunks.</summary>
    public bool Structured { get; set; }

    public async ValueTask SendOkAsync(ulong cookie, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            NbdFrameWriter.WriteSimpleReply(output.GetSpan(NbdWire.SimpleReplyLength), 0, cookie);
            output.Advance(NbdWire.SimpleReplyLength);
            await FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask SendErrorAsync(ulong cookie, NbdError error, string message, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var span = output.GetSpan(MaxErrorReplyLength);
            output.Advance(EncodeError(span, cookie, error, message));
            await FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Sends OK replies for <paramref name="cookies"/> in one socket write, synchronously (the
    /// blocking receive thread batches its WRITE replies). Needs the direct output stream.
    /// </summary>
    public void SendOks(ReadOnlySpan<ulong> cookies)
    {
        var stream = directOutput ?? throw new InvalidOperationException("synchronous replies need the direct output stream");
        var length = cookies.Length * NbdWire.SimpleReplyLength;
        var bytes = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            for (var i = 0; i < cookies.Length; i++)
            {
                NbdFrameWriter.WriteSimpleReply(bytes.AsSpan(i * NbdWire.SimpleReplyLength), 0, cookies[i]);
            }
            SendDirect(stream, bytes.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>Synchronous <see cref="SendErrorAsync"/> for the blocking receive thread.</summary>
    public void SendError(ulong cookie, NbdError error, string message)
    {
        var stream = directOutput ?? throw new InvalidOperationException("synchronous replies need the direct output stream");
        Span<byte> bytes = stackalloc byte[MaxErrorReplyLength];
        SendDirect(stream, bytes[..EncodeError(bytes, cookie, error, message)]);
    }

    private void SendDirect(Stream stream, ReadOnlySpan<byte> bytes)
    {
        _lock.Wait();
        try
        {
            // Every locked section ends with the pipe flushed, so the stream is ours alone here.
            stream.Write(bytes);
        }
        finally
        {
            _lock.Release();
        }
    }

    private int EncodeError(Span<byte> span, ulong cookie, NbdError error, string message)
    {
        if (!Structured)
        {
            NbdFrameWriter.WriteSimpleReply(span, (uint)error, cookie);
            return NbdWire.SimpleReplyLength;
        }
        // ERROR chunk: u32 error | u16 message length | message
        var textLength = Encoding.UTF8.GetBytes(message.Length > 200 ? message[..200] : message, span[(NbdWire.ChunkHeaderLength + 6)..]);
        var length = 6 + textLength;
        NbdFrameWriter.WriteChunkHeader(span, NbdWire.ReplyFlagDone, NbdWire.ChunkError, cookie, (uint)length);
        BinaryPrimitives.WriteUInt32BigEndian(span[20..], (uint)error);
        BinaryPrimitives.WriteUInt16BigEndian(span[24..], (ushort)textLength);
        return NbdWire.ChunkHeaderLength + length;
    }

    public async ValueTask SendReadAsync(ulong cookie, ulong offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Structured)
            {
                // One OFFSET_DATA chunk with DONE: u64 offset | data (also satisfies DF).
                var span = output.GetSpan(NbdWire.ChunkHeaderLength + 8);
                NbdFrameWriter.WriteChunkHeader(span, NbdWire.ReplyFlagDone, NbdWire.ChunkOffsetData, cookie, (uint)(data.Length + 8));
                BinaryPrimitives.WriteUInt64BigEndian(span[20..], offset);
                output.Advance(NbdWire.ChunkHeaderLength + 8);
            }
            else
            {
                NbdFrameWriter.WriteSimpleReply(output.GetSpan(NbdWire.SimpleReplyLength), 0, cookie);
                output.Advance(NbdWire.SimpleReplyLength);
            }
            if (directOutput is not null && data.Length >= DirectWriteThreshold)
            {
                await FlushAsync(ct).ConfigureAwait(false);
                await directOutput.WriteAsync(data, ct).ConfigureAwait(false);
                return;
            }
            output.Write(data.Span);
            await FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask SendBlockStatusAsync(ulong cookie, uint contextId, List<(uint Length, uint Flags)> extents, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // BLOCK_STATUS chunk: u32 context id | { u32 length | u32 flags } × n
            var length = 4 + (8 * extents.Count);
            var span = output.GetSpan(NbdWire.ChunkHeaderLength + length);
            NbdFrameWriter.WriteChunkHeader(span, NbdWire.ReplyFlagDone, NbdWire.ChunkBlockStatus, cookie, (uint)length);
            BinaryPrimitives.WriteUInt32BigEndian(span[20..], contextId);
            var at = 24;
            foreach (var (extentLength, flags) in extents)
            {
                BinaryPrimitives.WriteUInt32BigEndian(span[at..], extentLength);
                BinaryPrimitives.WriteUInt32BigEndian(span[(at + 4)..], flags);
                at += 8;
            }
            output.Advance(NbdWire.ChunkHeaderLength + length);
            await FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async ValueTask FlushAsync(CancellationToken ct)
    {
        var result = await output.FlushAsync(ct).ConfigureAwait(false);
        if (result.IsCanceled || result.IsCompleted)
        {
            throw new IOException("the NBD client stopped reading replies");
        }
    }
}
