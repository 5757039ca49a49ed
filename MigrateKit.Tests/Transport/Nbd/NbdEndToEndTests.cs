using System.IO.Pipelines;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Nbd;

/// <summary>Our server and our client over an in-memory pipe pair: no sockets, no external tools.</summary>
[Parallelizable(ParallelScope.All)]
[Category(TestKind.Unit)]
public class NbdEndToEndTests
{
    private const long ExportSize = 8 * 1024 * 1024;

    [Test, CancelAfter(20_000)]
    public async Task WriteReadFlushAndZeroRoundTrip(CancellationToken ct)
    {
        await using var rig = await Rig.StartAsync(ct);
        var client = rig.Client;
        Assert.Multiple(() =>
        {
            Assert.That(client.Size, Is.EqualTo(ExportSize));
            Assert.That(client.StructuredReplies, Is.True);
            Assert.That(client.HasBaseAllocation, Is.True);
            Assert.That(client.CanMultiConn && client.CanFua && client.CanTrim && client.CanWriteZeroes && client.CanFastZero, Is.True);
            Assert.That(client.MaximumPayload, Is.EqualTo(32 * 1024 * 1024));
        });

        var data = RandomBytes(3 * 65536 + 17, seed: 1);
        await client.WriteAsync(12345, data, fua: true, ct);
        await client.FlushAsync(ct);
        var back = new byte[data.Length];
        await client.ReadAsync(12345, back, ct);
        Assert.That(back, Is.EqualTo(data));

        await client.WriteZeroesAsync(12345, 4096, noHole: true, ct: ct);
        await client.WriteZeroesAsync(12345 + 8192, 8192, ct: ct);
        await client.TrimAsync(12345 + 65536, 4096, ct);
        await client.ReadAsync(12345, back, ct);
        Assert.Multiple(() =>
        {
            Assert.That(back.AsSpan(0, 4096).ContainsAnyExcept((byte)0), Is.False);
            Assert.That(back.AsSpan(4096, 4096).SequenceEqual(data.AsSpan(4096, 4096)), Is.True);
            Assert.That(back.AsSpan(8192, 8192).ContainsAnyExcept((byte)0), Is.False);
        });
        Assert.That(File.ReadAllBytes(rig.ImagePath).AsSpan(12345 + 4096, 4096).SequenceEqual(data.AsSpan(4096, 4096)), Is.True);
    }

    [Test, CancelAfter(20_000)]
    public async Task BlockStatusReportsHolesOfASparseFile(CancellationToken ct)
    {
        await using var rig = await Rig.StartAsync(ct, prepare: path =>
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
            f.Position = 1024 * 1024;
            f.Write(RandomBytes(65536, seed: 2));
        });
        var extents = await rig.Client.BlockStatusAsync(0, ExportSize, ct: ct);
        Assert.That(extents.Sum(e => e.Length), Is.EqualTo(ExportSize));
        Assert.That(extents.Where(e => !e.IsHole).Select(e => (e.Offset, e.Length)), Is.EqualTo(new[] { (1024L * 1024, 65536L) }));
        Assert.That(extents.Where(e => e.IsHole).All(e => e.IsZero), Is.True);

        var one = await rig.Client.BlockStatusAsync(0, ExportSize, requestOne: true, ct);
        Assert.That(one, Has.Count.EqualTo(1));
        Assert.That(one[0], Is.EqualTo(new NbdExtent(0, 1024 * 1024, true, true)));
    }

    [Test, CancelAfter(20_000)]
    public async Task ManyConcurrentRequestsOnOneConnectionAllComplete(CancellationToken ct)
    {
        await using var rig = await Rig.StartAsync(ct);
        var blocks = Enumerable.Range(0, 64).Select(i => RandomBytes(65536, seed: 100 + i)).ToArray();
        await Task.WhenAll(blocks.Select((b, i) => rig.Client.WriteAsync(i * 65536L, b, ct: ct)));
        var reads = blocks.Select((_, i) => new byte[65536]).ToArray();
        await Task.WhenAll(reads.Select((r, i) => rig.Client.ReadAsync(i * 65536L, r, ct)));
        for (var i = 0; i < blocks.Length; i++)
        {
            Assert.That(reads[i], Is.EqualTo(blocks[i]), $"block {i}");
        }
    }

    [Test, CancelAfter(20_000)]
    public async Task LargeWriteStreamsThroughADefaultPipe(CancellationToken ct)
    {
        // A default Pipe pauses its writer at 64 KiB: a server that buffered whole payloads would hang here.
        await using var rig = await Rig.StartAsync(ct, pipeOptions: PipeOptions.Default);
        var data = RandomBytes(4 * 1024 * 1024, seed: 3);
        await rig.Client.WriteAsync(4096, data, ct: ct);
        var back = new byte[data.Length];
        await rig.Client.ReadAsync(4096, back, ct);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test, CancelAfter(20_000)]
    public async Task OutOfRangeRequestsFailAndTheConnectionContinues(CancellationToken ct)
    {
        await using var rig = await Rig.StartAsync(ct);
        var raw = rig.Client;
        // The client refuses out-of-range requests itself; the server's own checks are exercised by nbdsh in NbdPeerTests.
        Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => raw.ReadAsync(ExportSize - 10, new byte[20], ct));
        var ex = Assert.ThrowsAsync<NbdException>(() => raw.WriteZeroesAsync(0, 4096, noHole: true, fastZero: true, ct: ct));
        Assert.That(ex!.ErrorName, Is.EqualTo("ENOTSUP"), "tmpfs cannot zero a range fast without a hole");
        var back = new byte[4];
        await raw.ReadAsync(0, back, ct);
        Assert.That(back, Is.EqualTo(new byte[4]));
    }

    [Test, CancelAfter(20_000)]
    public async Task ReadOnlyExportRefusesWritesWithEperm(CancellationToken ct)
    {
        await using var rig = await Rig.StartAsync(ct, readOnly: true);
        Assert.That(rig.Client.IsReadOnly, Is.True);
        var ex = Assert.ThrowsAsync<NbdException>(() => rig.Client.WriteAsync(0, new byte[512], ct: ct));
        Assert.That(ex!.ErrorName, Is.EqualTo("EPERM"));
        ex = Assert.ThrowsAsync<NbdException>(() => rig.Client.TrimAsync(0, 512, ct));
        Assert.That(ex!.Error, Is.EqualTo(NbdError.EPERM));
        var back = new byte[512];
        await rig.Client.ReadAsync(0, back, ct);
    }

    [Test, CancelAfter(20_000)]
    public async Task UnknownExportIsRefusedInTheHandshake(CancellationToken ct)
    {
        var ex = Assert.ThrowsAsync<NbdException>(async () =>
        {
            await using var rig = await Rig.StartAsync(ct, exportName: "missing");
        });
        Assert.That(ex!.ErrorName, Is.EqualTo("ERR_UNKNOWN"));
    }

    [Test, CancelAfter(20_000)]
    public async Task ReplacedExportKeepsRunningConnectionsOnTheOldFile(CancellationToken ct)
    {
        await using var rig = await Rig.StartAsync(ct);
        var other = Path.Combine(rig.Scratch.Path, "other.img");
        await File.WriteAllBytesAsync(other, RandomBytes(4096, seed: 9), ct);
        rig.Table.Set(new NbdExportDefinition("disk", other));
        Assert.That(rig.Table.Remove("nope"), Is.False);

        await rig.Client.WriteAsync(0, new byte[] { 1, 2, 3 }, ct: ct);
        Assert.That(File.ReadAllBytes(rig.ImagePath)[..3], Is.EqualTo(new byte[] { 1, 2, 3 }));

        await using var second = await rig.ConnectAnotherAsync(ct);
        Assert.That(second.Size, Is.EqualTo(4096), "a new connection sees the replacement");
        Assert.That(rig.Table.Remove("disk"), Is.True);
        await rig.Client.FlushAsync(ct);
    }

    internal static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>A server on a temp file and a client, joined by two in-memory pipes.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _serving = [];
        private readonly PipeOptions _pipeOptions;

        private Rig(NbdScratch scratch, NbdExportTable table, NbdServer server, PipeOptions pipeOptions)
        {
            Scratch = scratch;
            Table = table;
            Server = server;
            _pipeOptions = pipeOptions;
        }

        public NbdScratch Scratch { get; }
        public NbdExportTable Table { get; }
        public NbdServer Server { get; }
        public NbdClient Client { get; private set; } = null!;
        public string ImagePath => Path.Combine(Scratch.Path, "disk.img");

        public static async Task<Rig> StartAsync(CancellationToken ct, bool readOnly = false, string exportName = "disk",
            Action<string>? prepare = null, PipeOptions? pipeOptions = null)
        {
            var scratch = new NbdScratch("mk-nbd-e2e");
            var image = Path.Combine(scratch.Path, "disk.img");
            using (var f = File.Create(image))
            {
                f.SetLength(ExportSize);
            }
            prepare?.Invoke(image);
            var table = new NbdExportTable([new NbdExportDefinition("disk", image, readOnly)]);
            var rig = new Rig(scratch, table, new NbdServer(table),
                pipeOptions ?? new PipeOptions(pauseWriterThreshold: 64 * 1024 * 1024, resumeWriterThreshold: 32 * 1024 * 1024));
            try
            {
                rig.Client = await rig.ConnectAsync(exportName, ct);
            }
            catch
            {
                await rig.DisposeAsync();
                throw;
            }
            return rig;
        }

        public Task<NbdClient> ConnectAnotherAsync(CancellationToken ct) => ConnectAsync("disk", ct);

        private Task<NbdClient> ConnectAsync(string exportName, CancellationToken ct)
        {
            var toServer = new Pipe(_pipeOptions);
            var toClient = new Pipe(_pipeOptions);
            _serving.Add(Server.ServeAsync(new Duplex(toServer.Reader, toClient.Writer), _stop.Token));
            var stream = new DuplexStream(toClient.Reader.AsStream(), toServer.Writer.AsStream());
            return NbdClient.ConnectAsync(stream, exportName, ct: ct);
        }

        public async ValueTask DisposeAsync()
        {
            if (Client is not null)
            {
                await Client.DisposeAsync();
            }
            await _stop.CancelAsync();
            await Task.WhenAll(_serving).WaitAsync(TimeSpan.FromSeconds(10));
            await Server.DisposeAsync();
            Scratch.Dispose();
            _stop.Dispose();
        }
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>A stream that reads from one pipe and writes to the other.</summary>
    private sealed class DuplexStream(Stream read, Stream write) : Stream
    {
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => write.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => write.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => read.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => read.ReadAsync(buffer, cancellationToken);
        public override void Write(byte[] buffer, int offset, int count) => write.Write(buffer, offset, count);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => write.WriteAsync(buffer, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                read.Dispose();
                write.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
