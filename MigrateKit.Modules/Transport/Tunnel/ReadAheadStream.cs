namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>
/// Sits between SslStream and the socket. Reads: turns SslStream's small reads (a record header,
/// then one record) into large socket reads (measured on loopback: ~8 KB per recv without it).
/// Writes: SslStream sends every TLS record (≤ 16 KiB) with its own write; inside a write batch
/// (<see cref="BeginWriteBatch"/> … Flush) the records are gathered and sent in writes of up to
/// the buffer size, so the kernel sees one send per ~256 KiB instead of one per record. Writes
/// outside a batch (the TLS handshake, alerts) pass straight through.
/// </summary>
internal sealed class ReadAheadStream(Stream inner, int bufferSize = 256 * 1024) : Stream
{
    // Plain arrays, not pooled: a socket call may still be in flight when the connection is torn down.
    private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(bufferSize);
    private readonly byte[] _writeBuffer = GC.AllocateUninitializedArray<byte>(bufferSize);
    private int _start;
    private int _end;
    private int _writeLength;
    private bool _batching;

    /// <summary>
    /// Gathers the following writes until the next Flush. The caller is the single writer (the
    /// tunnel's output loop, through SslStream) and always flushes at the end of its batch.
    /// </summary>
    internal void BeginWriteBatch() => _batching = true;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        var buffer = _buffer;
        if (_start == _end)
        {
            if (destination.Length >= buffer.Length)
            {
                return await inner.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
            }

            _start = 0;
            _end = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (_end == 0)
            {
                return 0;
            }
        }

        var n = Math.Min(destination.Length, _end - _start);
        buffer.AsSpan(_start, n).CopyTo(destination.Span);
        _start += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        if (!_batching)
        {
            await inner.WriteAsync(source, cancellationToken).ConfigureAwait(false);
            return;
        }

        while (!source.IsEmpty)
        {
            if (_writeLength == _writeBuffer.Length)
            {
                await SendBatchAsync(cancellationToken).ConfigureAwait(false);
            }

            var n = Math.Min(source.Length, _writeBuffer.Length - _writeLength);
            source.Span[..n].CopyTo(_writeBuffer.AsSpan(_writeLength));
            _writeLength += n;
            source = source[n..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        _batching = false;
        await SendBatchAsync(cancellationToken).ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    private async ValueTask SendBatchAsync(CancellationToken cancellationToken)
    {
        if (_writeLength == 0)
        {
            return;
        }

        var length = _writeLength;
        _writeLength = 0; // a failed send ends the connection; never resend a partial batch
        await inner.WriteAsync(_writeBuffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        Dispose(true);
        GC.SuppressFinalize(this);
    }
}
