using System.Security.Cryptography;
using System.Text;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Nbd;

/// <summary>
/// The blocking receive loop of TCP connections over hand-made byte streams: however the bytes
/// are split into receives, the requests and WRITE payloads that come out are the same.
/// </summary>
[Parallelizable(ParallelScope.All)]
[Category(TestKind.Unit)]
public class NbdDirectReceiverTests
{
    private const int BufferSize = 128 * 1024;

    /// <summary>WRITE 100 B, READ, WRITE just over MinPartialWrite with FUA, empty WRITE, FLUSH, WRITE 3 B, then DISC.</summary>
    private static readonly byte[] Script = Concat(
        Write(1, 4096, Pattern(100, 1)),
        Header(NbdWire.CmdRead, 0, 2, 8192, 512),
        Write(3, 1 << 20, Pattern(NbdDirectReceiver.MinPartialWrite + 700, 2), NbdWire.CmdFlagFua),
        Write(4, 0, []),
        Header(NbdWire.CmdFlush, 0, 5, 0, 0),
        Write(6, 77, Pattern(3, 3)),
        Header(NbdWire.CmdDisc, 0, 7, 0, 0));

    private static readonly string Expected = Record(Script, [Script.Length]).Log;

    [Test]
    public void ContiguousInputGivesEveryRequestInOrder()
    {
        var (log, disconnected, _) = Record(Script, [Script.Length]);
        Assert.That(disconnected, Is.True);
        Assert.That(log, Is.EqualTo(string.Join('\n',
            $"write-start 1 4096 100", $"data 1 4096 {Sum(Pattern(100, 1))}", "write-end 1",
            "request 0 2 8192 512",
            $"write-start 3 1048576 {NbdDirectReceiver.MinPartialWrite + 700}",
            $"data 3 1048576 {Sum(Pattern(NbdDirectReceiver.MinPartialWrite + 700, 2))}", "write-end 3",
            "write-start 4 0 0", "write-end 4",
            "request 3 5 0 0",
            $"write-start 6 77 3", $"data 6 77 {Sum(Pattern(3, 3))}", "write-end 6") + "\n"));
    }

    [Test]
    public void EverySplitPointGivesTheSameResult()
    {
        // Two receives, split at every byte of the script: headers and payloads cut everywhere.
        for (var split = 0; split <= Script.Length; split++)
        {
            var (log, disconnected, _) = Record(Script, [split, Script.Length - split]);
            if (log != Expected || !disconnected)
            {
                Assert.Fail($"split at {split} gave:\n{log}");
            }
        }
    }

    [Test]
    public void OneByteReceivesGiveTheSameResult()
    {
        var (log, disconnected, idles) = Record(Script, Enumerable.Repeat(1, Script.Length).ToArray());
        Assert.That(log, Is.EqualTo(Expected));
        Assert.That(disconnected, Is.True);
        Assert.That(idles, Is.EqualTo(Script.Length), "OnIdle comes before every receive");
    }

    [Test]
    public void RandomReceiveSizesOverManyBufferfulsGiveTheSameResult()
    {
        // Several times the buffer size, so leftovers are moved to the front of the buffer many times.
        var parts = new List<byte[]>();
        for (var i = 0; i < 40; i++)
        {
            parts.Add(Write((ulong)(100 + i), (ulong)i * 100_000, Pattern(1 + (i * 7919 % 90_000), i)));
            if (i % 5 == 0)
            {
                parts.Add(Header(NbdWire.CmdTrim, 0, (ulong)(1000 + i), 0, 4096));
            }
        }
        var script = Concat([.. parts]);
        var expected = Record(script, [script.Length]).Log;
        var random = new Random(7);
        for (var round = 0; round < 20; round++)
        {
            var sizes = new List<int>();
            for (var left = script.Length; left > 0;)
            {
                var n = Math.Min(left, random.Next(1, 3 * BufferSize));
                sizes.Add(n);
                left -= n;
            }
            var (log, disconnected, _) = Record(script, [.. sizes]);
            Assert.That(disconnected, Is.False, "the script has no DISC: it ends with the stream");
            Assert.That(log, Is.EqualTo(expected), $"round {round}");
        }
    }

    [Test]
    public void PartialPayloadsAreHandedOnInPiecesOfAtLeastTheMinimum()
    {
        var payload = Pattern(200_000, 9);
        var script = Write(1, 0, payload);
        var sink = new RecordingSink { KeepPieces = true };
        var feeder = new Feeder(script, Enumerable.Repeat(1000, script.Length / 1000 + 1).ToArray());
        new NbdDirectReceiver(feeder.Receive, BufferSize).Run([], sink);
        var pieces = sink.Pieces;
        Assert.That(pieces.Sum(p => p.Data.Length), Is.EqualTo(payload.Length));
        Assert.That(pieces.Take(pieces.Count - 1).All(p => p.Data.Length >= NbdDirectReceiver.MinPartialWrite), Is.True);
        Assert.That(pieces.Select(p => p.Offset), Is.EqualTo(pieces.Select((p, i) => (long)pieces.Take(i).Sum(q => q.Data.Length))));
        Assert.That(pieces.SelectMany(p => p.Data).ToArray(), Is.EqualTo(payload));
    }

    [Test]
    public void InitialBytesFromTheHandshakeComeFirst()
    {
        var split = 40; // inside the first WRITE's payload
        var sink = new RecordingSink();
        var feeder = new Feeder(Script[split..], [Script.Length - split]);
        var disconnected = new NbdDirectReceiver(feeder.Receive, BufferSize).Run(Script.AsSpan(0, split), sink);
        Assert.That(disconnected, Is.True);
        Assert.That(sink.Log.ToString(), Is.EqualTo(Expected));
    }

    [Test]
    public void EndOfStreamInsideARequestIsAProtocolErrorAndBetweenRequestsIsClean()
    {
        var script = Concat(Write(1, 0, Pattern(5000, 4)), Header(NbdWire.CmdFlush, 0, 2, 0, 0));
        var boundaries = new HashSet<int> { 0, NbdWire.RequestHeaderLength + 5000, script.Length };
        for (var length = 0; length <= script.Length; length++)
        {
            var prefix = script[..length];
            var feeder = new Feeder(prefix, [length]);
            var receiver = new NbdDirectReceiver(feeder.Receive, BufferSize);
            if (boundaries.Contains(length))
            {
                Assert.That(receiver.Run([], new RecordingSink()), Is.False, $"prefix {length}");
            }
            else
            {
                Assert.Throws<NbdProtocolException>(() => receiver.Run([], new RecordingSink()), $"prefix {length}");
            }
        }
    }

    [Test]
    public void BadMagicAndOversizeWriteAreProtocolErrors()
    {
        var bad = Header(NbdWire.CmdRead, 0, 1, 0, 512);
        bad[1] ^= 0xff;
        Assert.Throws<NbdProtocolException>(() => new NbdDirectReceiver(new Feeder(bad, [bad.Length]).Receive, BufferSize).Run([], new RecordingSink()));

        var oversize = Header(NbdWire.CmdWrite, 0, 1, 0, NbdWire.MaxPayload + 1);
        var sink = new RecordingSink();
        Assert.Throws<NbdProtocolException>(() => new NbdDirectReceiver(new Feeder(oversize, [oversize.Length]).Receive, BufferSize).Run([], sink));
        Assert.That(sink.Log.ToString(), Is.Empty, "nothing of a refused header reaches the sink");
    }

    // ---- helpers

    private static (string Log, bool Disconnected, int Idles) Record(byte[] script, int[] receiveSizes)
    {
        var sink = new RecordingSink();
        var feeder = new Feeder(script, receiveSizes);
        var disconnected = new NbdDirectReceiver(feeder.Receive, BufferSize).Run([], sink);
        return (sink.Log.ToString(), disconnected, sink.Idles);
    }

    private static byte[] Header(ushort type, ushort flags, ulong cookie, ulong offset, uint length)
    {
        var frame = new byte[NbdWire.RequestHeaderLength];
        NbdFrameWriter.WriteRequest(frame, flags, type, cookie, offset, length);
        return frame;
    }

    private static byte[] Write(ulong cookie, ulong offset, byte[] payload, ushort flags = 0) =>
        Concat(Header(NbdWire.CmdWrite, flags, cookie, offset, (uint)payload.Length), payload);

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static string Sum(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes));

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>Hands out the script in receives of the given sizes (never more than the buffer has room for), then end of stream.</summary>
    private sealed class Feeder(byte[] script, int[] sizes)
    {
        private int _position;
        private int _next;
        private int _carry;

        public int Receive(Memory<byte> buffer)
        {
            if (_carry == 0)
            {
                while (_next < sizes.Length && sizes[_next] == 0)
                {
                    _next++;
                }
                if (_next == sizes.Length)
                {
                    return 0;
                }
                _carry = sizes[_next++];
            }
            var n = Math.Min(Math.Min(_carry, buffer.Length), script.Length - _position);
            if (n == 0)
            {
                return 0;
            }
            script.AsSpan(_position, n).CopyTo(buffer.Span);
            _position += n;
            _carry -= n;
            return n;
        }
    }

    /// <summary>Logs what the receiver reports; WRITE payload pieces are hashed per WRITE so any split gives one line.</summary>
    private sealed class RecordingSink : INbdRequestSink
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private NbdRequest _write;
        private long _received;

        public StringBuilder Log { get; } = new();
        public List<(long Offset, byte[] Data)> Pieces { get; } = [];
        public bool KeepPieces { get; init; }
        public int Idles { get; private set; }

        public void OnRequest(in NbdRequest request) =>
            Log.Append($"request {request.Type} {request.Cookie} {request.Offset} {request.Length}\n");

        public void OnWriteStart(in NbdRequest request)
        {
            _write = request;
            _received = 0;
            Log.Append($"write-start {request.Cookie} {request.Offset} {request.Length}\n");
        }

        public void OnWriteData(ReadOnlySpan<byte> data, long offset)
        {
            if (offset != (long)_write.Offset + _received || data.IsEmpty)
            {
                throw new AssertionException($"piece of {data.Length} at {offset}, expected {(long)_write.Offset + _received}");
            }
            if (KeepPieces)
            {
                Pieces.Add((_received, data.ToArray()));
            }
            _hash.AppendData(data);
            _received += data.Length;
        }

        public void OnWriteEnd(in NbdRequest request)
        {
            if (_received > 0)
            {
                Log.Append($"data {request.Cookie} {request.Offset} {Convert.ToHexString(_hash.GetHashAndReset())}\n");
            }
            Log.Append($"write-end {request.Cookie}\n");
        }

        public void OnIdle() => Idles++;
    }
}
