using System.Buffers;
using System.Buffers.Binary;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>One option sent by the client during the handshake; <see cref="Data"/> is a slice of the input.</summary>
internal readonly record struct NbdOption(uint Option, ReadOnlySequence<byte> Data);

/// <summary>A transmission request header. A WRITE's payload follows it on the wire and is not included.</summary>
internal readonly record struct NbdRequest(ushort Flags, ushort Type, ulong Cookie, ulong Offset, uint Length);

/// <summary>
/// Pure parsers for what a client sends to the server. Each returns false ("need more bytes")
/// with <c>consumed</c> left at the start, and throws <see cref="NbdProtocolException"/> on malformed data.
/// </summary>
internal static class NbdRequestReader
{
    // Client flags: u32.
    public const int ClientFlagsLength = 4;

    // Option: +0 u64 IHAVEOPT | +8 u32 option | +12 u32 length | +16 data[length]

    // Request: +0 u32 magic | +4 u16 flags | +6 u16 type | +8 u64 cookie | +16 u64 offset | +24 u32 length
    private const int RequestFlagsOffset = 4;
    private const int RequestTypeOffset = 6;
    private const int RequestCookieOffset = 8;
    private const int RequestOffsetOffset = 16;
    private const int RequestLengthOffset = 24;

    public static bool TryParseClientFlags(in ReadOnlySequence<byte> buffer, ref SequencePosition consumed,
        ref SequencePosition examined, out uint flags)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadBigEndian(out int value))
        {
            flags = 0;
            examined = buffer.End;
            return false;
        }
        flags = (uint)value;
        consumed = examined = reader.Position;
        return true;
    }

    public static bool TryParseOption(in ReadOnlySequence<byte> buffer, ref SequencePosition consumed,
        ref SequencePosition examined, out NbdOption option)
    {
        option = default;
        var reader = new SequenceReader<byte>(buffer);
        if (reader.Remaining < NbdWire.OptionHeaderLength)
        {
            examined = buffer.End;
            return false;
        }
        reader.TryReadBigEndian(out long magic);
        if ((ulong)magic != NbdWire.IHaveOpt)
        {
            throw new NbdProtocolException($"bad option magic 0x{(ulong)magic:x16}");
        }
        reader.TryReadBigEndian(out int code);
        reader.TryReadBigEndian(out int length);
        // Check the declared length before buffering anything.
        if ((uint)length > NbdWire.MaxOptionLength)
        {
            throw new NbdProtocolException($"option {NbdWire.OptionName((uint)code)} data length {(uint)length} exceeds {NbdWire.MaxOptionLength}");
        }
        if (reader.Remaining < length)
        {
            examined = buffer.End;
            return false;
        }
        var data = buffer.Slice(reader.Position, length);
        option = new NbdOption((uint)code, data);
        consumed = examined = data.End;
        return true;
    }

    public static bool TryParseRequest(in ReadOnlySequence<byte> buffer, ref SequencePosition consumed,
        ref SequencePosition examined, out NbdRequest request)
    {
        request = default;
        if (buffer.Length < NbdWire.RequestHeaderLength)
        {
            examined = buffer.End;
            return false;
        }
        // Headers split across segments are copied once (stackalloc); the common case reads in place.
        var first = buffer.FirstSpan;
        if (first.Length >= NbdWire.RequestHeaderLength)
        {
            request = Decode(first[..NbdWire.RequestHeaderLength]);
        }
        else
        {
            Span<byte> copy = stackalloc byte[NbdWire.RequestHeaderLength];
            buffer.Slice(0, NbdWire.RequestHeaderLength).CopyTo(copy);
            request = Decode(copy);
        }
        consumed = examined = buffer.GetPosition(NbdWire.RequestHeaderLength);
        return true;
    }

    private static NbdRequest Decode(ReadOnlySpan<byte> h)
    {
        var magic = BinaryPrimitives.ReadUInt32BigEndian(h);
        if (magic != NbdWire.RequestMagic)
        {
            throw new NbdProtocolException($"bad request magic 0x{magic:x8}");
        }
        var flags = BinaryPrimitives.ReadUInt16BigEndian(h[RequestFlagsOffset..]);
        var type = BinaryPrimitives.ReadUInt16BigEndian(h[RequestTypeOffset..]);
        var cookie = BinaryPrimitives.ReadUInt64BigEndian(h[RequestCookieOffset..]);
        var offset = BinaryPrimitives.ReadUInt64BigEndian(h[RequestOffsetOffset..]);
        var length = BinaryPrimitives.ReadUInt32BigEndian(h[RequestLengthOffset..]);
        // A WRITE payload over the maximum cannot be skipped safely: the stream is treated as hostile.
        if (type == NbdWire.CmdWrite && length > NbdWire.MaxPayload)
        {
            throw new NbdProtocolException($"WRITE payload {length} exceeds the maximum {NbdWire.MaxPayload}");
        }
        return new NbdRequest(flags, type, cookie, offset, length);
    }
}
