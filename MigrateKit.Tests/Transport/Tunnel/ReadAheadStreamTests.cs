using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Tunnel;

[Parallelizable(ParallelScope.All)] // in-memory streams only
[Category(TestKind.Unit)]
public class ReadAheadStreamTests
{
    /// <summary>Records every write the socket side would see.</summary>
    private sealed class RecordingStream : MemoryStream
    {
        public List<int> WriteSizes { get; } = [];

        public int Flushes { get; private set; }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            WriteSizes.Add(buffer.Length);
            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushes++;
            return Task.CompletedTask;
        }
    }

    private static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Test]
    public async Task WritesOutsideABatchPassStraightThrough()
    {
        var inner = new RecordingStream();
        await using var stream = new ReadAheadStream(inner, bufferSize: 1024);
        await stream.WriteAsync(Bytes(10, 1));
        await stream.WriteAsync(Bytes(3000, 2));
        Assert.That(inner.WriteSizes, Is.EqualTo(new[] { 10, 3000 }));
    }

    [TestCase(1)]
    [TestCase(7)]
    [TestCase(1023)]
    [TestCase(1024)]
    [TestCase(1025)]
    [TestCase(4096)]
    public async Task ABatchIsSentInBufferSizedWritesAtTheFlushInOrder(int recordSize)
    {
        var inner = new RecordingStream();
        await using var stream = new ReadAheadStream(inner, bufferSize: 1024);
        var all = Bytes(5000, recordSize);
        stream.BeginWriteBatch();
        for (var offset = 0; offset < all.Length; offset += recordSize)
        {
            await stream.WriteAsync(all.AsMemory(offset, Math.Min(recordSize, all.Length - offset)));
        }

        Assert.That(inner.WriteSizes.Sum(), Is.EqualTo(4 * 1024), "only full buffers go out before the flush");
        await stream.FlushAsync();

        Assert.That(inner.ToArray(), Is.EqualTo(all));
        Assert.That(inner.WriteSizes, Is.EqualTo(new[] { 1024, 1024, 1024, 1024, 904 }));
        Assert.That(inner.Flushes, Is.EqualTo(1));

        // The flush ended the batch: the next write passes through at once.
        await stream.WriteAsync(Bytes(5, 3));
        Assert.That(inner.WriteSizes[^1], Is.EqualTo(5));
    }

    [Test]
    public async Task AnEmptyBatchWritesNothing()
    {
        var inner = new RecordingStream();
        await using var stream = new ReadAheadStream(inner, bufferSize: 1024);
        stream.BeginWriteBatch();
        await stream.FlushAsync();
        Assert.That(inner.WriteSizes, Is.Empty);
        Assert.That(inner.Flushes, Is.EqualTo(1));
    }
}
