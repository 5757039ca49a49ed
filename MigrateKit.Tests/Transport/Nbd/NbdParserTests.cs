using System.Buffers;
using System.Buffers.Binary;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Nbd;

/// <summary>Kestrel-style parser tests: every prefix needs more, any segmentation parses the same.</summary>
[Parallelizable(ParallelScope.All)]
[Category(TestKind.Unit)]
public class NbdParserTests
{
    public delegate bool Parse(in ReadOnlySequence<byte> buffer, ref SequencePosition consumed, ref SequencePosition examined, out object? value);

    private static readonly Dictionary<string, (byte[] Frame, Parse Parser)> Frames = new()
    {
        ["option"] = (Option(NbdWire.OptGo, [0, 0, 0, 4, (byte)'d', (byte)'i', (byte)'s', (byte)'k', 0, 1, 0, 3]), ParseOption),
        ["option-empty"] = (Option(NbdWire.OptList, []), ParseOption),
        ["client-flags"] = ([0, 0, 0, 3], ParseClientFlags),
        ["request-read"] = (Request(NbdWire.CmdRead, 0, 7, 4096, 512), ParseRequest),
        ["request-write"] = (Request(NbdWire.CmdWrite, NbdWire.CmdFlagFua, 8, 0, 65536), ParseRequest),
        ["greeting"] = (Greeting(), ParseGreeting),
        ["option-reply"] = (OptionReply(NbdWire.OptGo, NbdWire.RepInfo, [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1]), ParseOptionReply),
        ["simple-reply"] = (SimpleReply(22, 9), ParseReply),
        ["chunk-data"] = (Chunk(NbdWire.ChunkOffsetData, 10, [0, 0, 0, 0, 0, 0, 0x10, 0, 0xaa, 0xbb]), ParseReply),
        ["chunk-none"] = (Chunk(NbdWire.ChunkNone, 11, []), ParseReply),
    };

    public static IEnumerable<TestCaseData> Prefixes()
    {
        foreach (var (name, (frame, _)) in Frames)
        {
            for (var length = 0; length < frame.Length; length++)
            {
                yield return new TestCaseData(name, length).SetName($"Prefix_{name}_{length}");
            }
        }
    }

    public static IEnumerable<string> FrameNames() => Frames.Keys;

    [TestCaseSource(nameof(Prefixes))]
    public void EveryPrefixNeedsMoreAndConsumesNothing(string name, int length)
    {
        var (frame, parse) = Frames[name];
        var buffer = new ReadOnlySequence<byte>(frame, 0, length);
        var consumed = buffer.Start;
        var examined = buffer.Start;
        var ok = parse(buffer, ref consumed, ref examined, out _);
        Assert.Multiple(() =>
        {
            Assert.That(ok, Is.False);
            Assert.That(consumed, Is.EqualTo(buffer.Start));
            Assert.That(buffer.Slice(examined).Length, Is.Zero, "a partial frame must mark everything examined");
        });
    }

    [TestCaseSource(nameof(FrameNames))]
    public void BytePerSegmentParsesLikeContiguous(string name)
    {
        var (frame, parse) = Frames[name];
        var withTail = frame.Concat(new byte[] { 0x42, 0x43 }).ToArray();
        var contiguous = new ReadOnlySequence<byte>(withTail);
        var segmented = SegmentedSequence.BytePerSegment(withTail);

        var c1 = contiguous.Start;
        var e1 = contiguous.Start;
        var c2 = segmented.Start;
        var e2 = segmented.Start;
        Assert.That(parse(contiguous, ref c1, ref e1, out var v1), Is.True);
        Assert.That(parse(segmented, ref c2, ref e2, out var v2), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(Describe(v2), Is.EqualTo(Describe(v1)));
            Assert.That(contiguous.Slice(c1).Length, Is.EqualTo(2), "the frame is consumed, the tail is not");
            Assert.That(segmented.Slice(c2).Length, Is.EqualTo(2));
        });
    }

    [Test]
    public void RequestFieldsAreDecoded()
    {
        var buffer = new ReadOnlySequence<byte>(Request(NbdWire.CmdBlockStatus, NbdWire.CmdFlagReqOne, 0x0102030405060708, 1L << 40, 0xfffffff0));
        var consumed = buffer.Start;
        var examined = buffer.Start;
        Assert.That(NbdRequestReader.TryParseRequest(buffer, ref consumed, ref examined, out var request), Is.True);
        Assert.That(request, Is.EqualTo(new NbdRequest(NbdWire.CmdFlagReqOne, NbdWire.CmdBlockStatus, 0x0102030405060708, 1UL << 40, 0xfffffff0)));
    }

    public static IEnumerable<TestCaseData> Malformed()
    {
        var badRequest = Request(NbdWire.CmdRead, 0, 1, 0, 512);
        badRequest[0] ^= 0xff;
        yield return new TestCaseData(badRequest, (Parse)ParseRequest).SetName("Malformed_request_magic");
        yield return new TestCaseData(Request(NbdWire.CmdWrite, 0, 1, 0, NbdWire.MaxPayload + 1u), (Parse)ParseRequest).SetName("Malformed_write_over_max_payload");
        var badOption = Option(NbdWire.OptList, []);
        badOption[3] ^= 0xff;
        yield return new TestCaseData(badOption, (Parse)ParseOption).SetName("Malformed_option_magic");
        var hugeOption = Option(NbdWire.OptGo, []);
        BinaryPrimitives.WriteUInt32BigEndian(hugeOption.AsSpan(12), 0x7fffffff);
        yield return new TestCaseData(hugeOption, (Parse)ParseOption).SetName("Malformed_option_length_checked_before_buffering");
        var badGreeting = Greeting();
        badGreeting[8] = 0;
        yield return new TestCaseData(badGreeting, (Parse)ParseGreeting).SetName("Malformed_greeting");
        var badReply = SimpleReply(0, 1);
        badReply[0] = 0;
        yield return new TestCaseData(badReply, (Parse)ParseReply).SetName("Malformed_reply_magic");
        var hugeChunk = Chunk(NbdWire.ChunkOffsetData, 1, []);
        BinaryPrimitives.WriteUInt32BigEndian(hugeChunk.AsSpan(16), 0x7fffffff);
        yield return new TestCaseData(hugeChunk, (Parse)ParseReply).SetName("Malformed_chunk_length");
        var badOptionReply = OptionReply(1, 1, []);
        badOptionReply[0] = 1;
        yield return new TestCaseData(badOptionReply, (Parse)ParseOptionReply).SetName("Malformed_option_reply_magic");
    }

    [TestCaseSource(nameof(Malformed))]
    public void MalformedInputThrowsProtocolException(byte[] frame, Parse parse)
    {
        var buffer = new ReadOnlySequence<byte>(frame);
        var consumed = buffer.Start;
        var examined = buffer.Start;
        Assert.Throws<NbdProtocolException>(() => parse(buffer, ref consumed, ref examined, out _));
        var segmented = SegmentedSequence.BytePerSegment(frame);
        consumed = segmented.Start;
        examined = segmented.Start;
        Assert.Throws<NbdProtocolException>(() => parse(segmented, ref consumed, ref examined, out _));
    }

    // ---- adapters and frame builders

    private static bool ParseOption(in ReadOnlySequence<byte> b, ref SequencePosition c, ref SequencePosition e, out object? v)
    {
        var ok = NbdRequestReader.TryParseOption(b, ref c, ref e, out var option);
        v = ok ? (option.Option, Convert.ToHexString(option.Data.ToArray())) : null;
        return ok;
    }

    private static bool ParseClientFlags(in ReadOnlySequence<byte> b, ref SequencePosition c, ref SequencePosition e, out object? v)
    {
        var ok = NbdRequestReader.TryParseClientFlags(b, ref c, ref e, out var flags);
        v = flags;
        return ok;
    }

    private static bool ParseRequest(in ReadOnlySequence<byte> b, ref SequencePosition c, ref SequencePosition e, out object? v)
    {
        var ok = NbdRequestReader.TryParseRequest(b, ref c, ref e, out var request);
        v = request;
        return ok;
    }

    private static bool ParseGreeting(in ReadOnlySequence<byte> b, ref SequencePosition c, ref SequencePosition e, out object? v)
    {
        var ok = NbdReplyReader.TryParseGreeting(b, ref c, ref e, out var greeting);
        v = greeting;
        return ok;
    }

    private static bool ParseOptionReply(in ReadOnlySequence<byte> b, ref SequencePosition c, ref SequencePosition e, out object? v)
    {
        var ok = NbdReplyReader.TryParseOptionReply(b, ref c, ref e, out var reply);
        v = ok ? (reply.Option, reply.Type, Convert.ToHexString(reply.Data.ToArray())) : null;
        return ok;
    }

    private static bool ParseReply(in ReadOnlySequence<byte> b, ref SequencePosition c, ref SequencePosition e, out object? v)
    {
        var ok = NbdReplyReader.TryParseReply(b, ref c, ref e, out var reply);
        v = ok ? (reply.Structured, reply.Flags, reply.ChunkType, reply.Error, reply.Cookie, Convert.ToHexString(reply.Data.ToArray())) : null;
        return ok;
    }

    private static string Describe(object? value) => value?.ToString() ?? "<null>";

    private static byte[] Option(uint option, byte[] data)
    {
        var frame = new byte[16 + data.Length];
        NbdFrameWriter.WriteOption(frame, option, (uint)data.Length);
        data.CopyTo(frame, 16);
        return frame;
    }

    private static byte[] Request(ushort type, ushort flags, ulong cookie, long offset, uint length)
    {
        var frame = new byte[NbdWire.RequestHeaderLength];
        NbdFrameWriter.WriteRequest(frame, flags, type, cookie, (ulong)offset, length);
        return frame;
    }

    private static byte[] Greeting()
    {
        var frame = new byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(frame, NbdWire.NbdMagic);
        BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(8), NbdWire.IHaveOpt);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), 3);
        return frame;
    }

    private static byte[] OptionReply(uint option, uint type, byte[] data)
    {
        var frame = new byte[20 + data.Length];
        NbdFrameWriter.WriteOptionReply(frame, option, type, (uint)data.Length);
        data.CopyTo(frame, 20);
        return frame;
    }

    private static byte[] SimpleReply(uint error, ulong cookie)
    {
        var frame = new byte[16];
        NbdFrameWriter.WriteSimpleReply(frame, error, cookie);
        return frame;
    }

    private static byte[] Chunk(ushort type, ulong cookie, byte[] data)
    {
        var frame = new byte[20 + data.Length];
        NbdFrameWriter.WriteChunkHeader(frame, NbdWire.ReplyFlagDone, type, cookie, (uint)data.Length);
        data.CopyTo(frame, 20);
        return frame;
    }
}
