using System.Buffers;
using System.Buffers.Binary;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Tunnel;

[Parallelizable(ParallelScope.All)] // pure functions over byte arrays
[Category(TestKind.Unit)]
public class TunnelFrameParserTests
{
    private const int Max = 1024 * 1024;

    private static byte[] Frame(TunnelFrameType type, uint streamId, byte[] payload, byte flags = 0, ushort reserved = 0)
    {
        var bytes = new byte[TunnelWire.HeaderSize + payload.Length];
        TunnelWire.WriteHeader(bytes, type, streamId, payload.Length);
        bytes[TunnelWire.FlagsOffset] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(TunnelWire.ReservedOffset), reserved);
        payload.CopyTo(bytes, TunnelWire.HeaderSize);
        return bytes;
    }

    private static byte[] U32(uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        return b;
    }

    private static byte[] OpenPayload(string service)
        => [.. U32(65536), (byte)service.Length, .. System.Text.Encoding.ASCII.GetBytes(service)];

    public static IEnumerable<TestCaseData> ValidFrames()
    {
        yield return new TestCaseData(Frame(TunnelFrameType.Data, 1, [.. Enumerable.Range(0, 300).Select(i => (byte)i)])).SetArgDisplayNames("data");
        yield return new TestCaseData(Frame(TunnelFrameType.Data, 3, [])).SetArgDisplayNames("empty-data");
        yield return new TestCaseData(Frame(TunnelFrameType.Open, 5, OpenPayload("nbd"))).SetArgDisplayNames("open");
        yield return new TestCaseData(Frame(TunnelFrameType.WindowUpdate, 0, U32(1000))).SetArgDisplayNames("window");
        yield return new TestCaseData(Frame(TunnelFrameType.Ping, 0, new byte[8])).SetArgDisplayNames("ping");
        yield return new TestCaseData(Frame(TunnelFrameType.GoAway, 0, [.. U32(7), .. U32(0), .. "bye"u8.ToArray()])).SetArgDisplayNames("goaway");
        yield return new TestCaseData(Frame(TunnelFrameType.Fin, 2, [])).SetArgDisplayNames("fin");
    }

    public static IEnumerable<TestCaseData> EveryPrefix()
    {
        foreach (var data in ValidFrames())
        {
            var frame = (byte[])data.Arguments[0]!;
            for (var length = 0; length < frame.Length; length++)
            {
                yield return new TestCaseData(frame[..length]).SetArgDisplayNames($"{data.TestName}-{length}");
            }
        }
    }

    [TestCaseSource(nameof(EveryPrefix))]
    public void EveryPrefixNeedsMoreData(byte[] prefix)
    {
        var buffer = new ReadOnlySequence<byte>(prefix);
        var consumed = buffer.Start;
        var examined = buffer.Start;
        Assert.Multiple(() =>
        {
            Assert.That(TunnelWire.TryParse(buffer, Max, ref consumed, ref examined, out _), Is.False);
            Assert.That(consumed, Is.EqualTo(buffer.Start));
            Assert.That(examined, Is.EqualTo(buffer.End));
        });
    }

    [TestCaseSource(nameof(ValidFrames))]
    public void BytePerSegmentEqualsContiguous(byte[] frame)
    {
        var trailing = new byte[] { 0xAA, 0xBB };
        byte[] data = [.. frame, .. trailing];
        var contiguous = Parse(new ReadOnlySequence<byte>(data));
        var segmented = Parse(SegmentedSequence.BytePerSegment(data));
        Assert.Multiple(() =>
        {
            Assert.That(segmented.Type, Is.EqualTo(contiguous.Type));
            Assert.That(segmented.StreamId, Is.EqualTo(contiguous.StreamId));
            Assert.That(segmented.Payload, Is.EqualTo(contiguous.Payload));
            Assert.That(segmented.Remaining, Is.EqualTo(2));
            Assert.That(contiguous.Remaining, Is.EqualTo(2));
            Assert.That(contiguous.Payload, Is.EqualTo(frame[TunnelWire.HeaderSize..]));
        });
    }

    private static (TunnelFrameType Type, uint StreamId, byte[] Payload, long Remaining) Parse(ReadOnlySequence<byte> buffer)
    {
        var consumed = buffer.Start;
        var examined = buffer.Start;
        Assert.That(TunnelWire.TryParse(buffer, Max, ref consumed, ref examined, out var frame), Is.True);
        return (frame.Type, frame.StreamId, frame.Payload.ToArray(), buffer.Slice(consumed).Length);
    }

    public static IEnumerable<TestCaseData> MalformedFrames()
    {
        yield return new TestCaseData(Frame((TunnelFrameType)42, 1, [])).SetArgDisplayNames("unknown-type");
        yield return new TestCaseData(Frame(TunnelFrameType.Data, 1, [1], flags: 1)).SetArgDisplayNames("flags");
        yield return new TestCaseData(Frame(TunnelFrameType.Data, 1, [1], reserved: 9)).SetArgDisplayNames("reserved");
        yield return new TestCaseData(Frame(TunnelFrameType.Data, 0, [1])).SetArgDisplayNames("data-on-stream-0");
        yield return new TestCaseData(Frame(TunnelFrameType.Ping, 3, new byte[8])).SetArgDisplayNames("ping-on-stream");
        yield return new TestCaseData(Frame(TunnelFrameType.Ping, 0, new byte[7])).SetArgDisplayNames("short-ping");
        yield return new TestCaseData(Frame(TunnelFrameType.WindowUpdate, 1, new byte[5])).SetArgDisplayNames("long-window");
        yield return new TestCaseData(Frame(TunnelFrameType.Fin, 1, [0])).SetArgDisplayNames("fin-with-payload");
        yield return new TestCaseData(Frame(TunnelFrameType.Open, 1, [0, 0])).SetArgDisplayNames("short-open");
        yield return new TestCaseData(Frame(TunnelFrameType.Reset, 1, new byte[2000])).SetArgDisplayNames("huge-reset");
    }

    [TestCaseSource(nameof(MalformedFrames))]
    public void MalformedFrameThrows(byte[] frame)
    {
        var buffer = new ReadOnlySequence<byte>(frame);
        var consumed = buffer.Start;
        var examined = buffer.Start;
        Assert.Throws<TunnelProtocolException>(() => TunnelWire.TryParse(buffer, Max, ref consumed, ref examined, out _));
        var segmented = SegmentedSequence.BytePerSegment(frame);
        consumed = segmented.Start;
        examined = segmented.Start;
        Assert.Throws<TunnelProtocolException>(() => TunnelWire.TryParse(segmented, Max, ref consumed, ref examined, out _));
    }

    [Test]
    public void OversizedFrameIsRejectedFromItsHeaderAlone()
    {
        // Only the 12-byte header: the parser must refuse before any payload is buffered.
        var header = new byte[TunnelWire.HeaderSize];
        TunnelWire.WriteHeader(header, TunnelFrameType.Data, 1, Max + 1);
        var buffer = new ReadOnlySequence<byte>(header);
        var consumed = buffer.Start;
        var examined = buffer.Start;
        var ex = Assert.Throws<TunnelProtocolException>(() => TunnelWire.TryParse(buffer, Max, ref consumed, ref examined, out _));
        Assert.That(ex!.Message, Does.Contain("length"));
    }

    [Test]
    public void OpenWithBadServiceNameIsRefusedNotFatal()
    {
        byte[] payload = [.. U32(1), 3, .. "N B"u8.ToArray()];
        var (_, service, error) = TunnelWire.ParseOpen(new ReadOnlySequence<byte>(payload));
        Assert.Multiple(() =>
        {
            Assert.That(service, Is.Null);
            Assert.That(error, Does.Contain("invalid service name"));
        });
    }

    [Test]
    public void OpenWithInconsistentNameLengthThrows()
    {
        byte[] payload = [.. U32(1), 9, .. "nbd"u8.ToArray()];
        Assert.Throws<TunnelProtocolException>(() => TunnelWire.ParseOpen(new ReadOnlySequence<byte>(payload)));
    }
}
