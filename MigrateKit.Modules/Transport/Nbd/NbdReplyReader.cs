using System.Buffers;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>The server's first 18 bytes of a newstyle handshake.</summary>
internal readonly record struct NbdGreeting(ushort HandshakeFlags);

/// <summary>One option reply; <see cref="Data"/> is a slice of the input.</summary>
internal readonly record struct NbdOptionReply(uint Option, uint Type, ReadOnlySequence<byte> Data)
{
    public bool IsError => (Type & NbdWire.RepErrorBit) != 0;
}

/// <summary>
/// A transmission reply: a simple reply header (a successful READ's data follows it on the wire and
/// is not included) or a whole structured chunk (with its data as a slice).
/// </summary>
internal readonly record struct NbdReply(bool Structured, ushort Flags, ushort ChunkType, uint Error, ulong Cookie,
    ReadOnlySequence<byte> Data)
{
    public bool Done => !Structured || (Flags & NbdWire.ReplyFlagDone) != 0;
}

/// <summary>Pure parsers for what a server sends to the client (same contract as <see cref="NbdRequestReader"/>).</summary>
internal static class NbdReplyReader
{
    // Greeting: +0 u64 NBDMAGIC | +8 u64 IHAVEOPT | +16 u16 handshake flags
    public const int GreetingLength = 18;
    private const ulong OldstyleMagic = 0x00420281861253;

    // EXPORT_NAME reply: +0 u64 size | +8 u16 transmission flags | +10 124 zero bytes (unless NO_ZEROES)
    public const int ExportNameReplyLength = 10;
    public const int ExportNameZeroPadding = 124;

    // Option reply: +0 u64 magic | +8 u32 option | +12 u32 reply type | +16 u32 length | +20 data
    // Largest option reply accepted; a SERVER reply with a long description stays far below this.
    public const int MaxOptionReplyLength = 1024 * 1024;

    // Simple reply: +0 u32 magic | +4 u32 error | +8 u64 cookie
    // Chunk:        +0 u32 magic | +4 u16 flags | +6 u16 type | +8 u64 cookie | +16 u32 length | +20 data
    // A chunk carries at most a full read (offset + max payload) or 2^20 block-status extents.
    public const int MaxChunkLength = NbdWire.MaxPayload + 8;

    public static bool TryParseGreeting(in ReadOnlySequence<byte> buffer, ref SequencePosition consumed,
        ref SequencePosition examined, out NbdGreeting greeting)
    {
        greeting = default;
        var reader = new SequenceReader<byte>(buffer);
        if (reader.Remaining < GreetingLength)
        {
            examined = buffer.End;
            return false;
        }
        reader.TryReadBigEndian(out long magic);
        reader.TryReadBigEndian(out long second);
        if ((ulong)magic != NbdWire.NbdMagic)
        {
            throw new NbdProtocolException($"not an NBD server (magic 0x{(ulong)magic:x16})");
        }
        if ((ulong)second == OldstyleMagic)
        {
            throw new NbdProtocolException("the server speaks the oldstyle handshake, which is not supported");
        }
        if ((ulong)second != NbdWire.IHaveOpt)
        {
            throw new NbdProtocolException($"bad handshake magic 0x{(ulong)second:x16}");
        }
        reader.TryReadBigEndian(out short flags);
        greeting = new NbdGreeting((ushort)flags);
        consumed = examined = reader.Position;
        return true;
    }

    public static bool TryParseExportNameReply(in ReadOnlySequence<byte> buffer, bool noZeroes,
        ref SequencePosition consumed, ref SequencePosition examined, out ulong size, out ushort transmissionFlags)
    {
        size = 0;
        transmissionFlags = 0;
        var total = ExportNameReplyLength + (noZeroes ? 0 : ExportNameZeroPadding);
        var reader = new SequenceReader<byte>(buffer);
        if (reader.Remaining < total)
        {
            examined = buffer.End;
            return false;
        }
        reader.TryReadBigEndian(out long s);
        reader.TryReadBigEndian(out short f);
        reader.Advance(total - ExportNameReplyLength);
        size = (ulong)s;
        transmissionFlags = (ushort)f;
        consumed = examined = reader.Position;
        return true;
    }

    public static bool TryParseOptionReply(in ReadOnlySequence<byte> buffer, ref SequencePosition consumed,
        ref SequencePosition examined, out NbdOptionReply reply)
    {
        reply = default;
        var reader = new SequenceReader<byte>(buffer);
        if (reader.Remaining < NbdWire.OptionReplyHeaderLength)
        {
            examined = buffer.End;
            return false;
        }
        reader.TryReadBigEndian(out long magic);
        if ((ulong)magic != NbdWire.OptionReplyMagic)
        {
            throw new NbdProtocolException($"bad option reply magic 0x{(ulong)magic:x16}");
        }
        reader.TryReadBigEndian(out int option);
        reader.TryReadBigEndian(out int type);
        reader.TryReadBigEndian(out int length);
        if ((uint)length > MaxOptionReplyLength)
        {
            throw new NbdProtocolException($"option reply length {(uint)length} exceeds {MaxOptionReplyLength}");
        }
        if (reader.Remaining < length)
        {
            examined = buffer.End;
            return false;
        }
        var data = buffer.Slice(reader.Position, length);
        reply = new NbdOptionReply((uint)option, (uint)type, data);
        consumed = examined = data.End;
        return true;
    }

    public static bool TryParseReply(in ReadOnlySequence<byte> buffer, ref SequencePosition consumed,
        ref SequencePosition examined, out NbdReply reply)
    {
        reply = default;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadBigEndian(out int magicValue))
        {
            examined = buffer.End;
            return false;
        }
        var magic = (uint)magicValue;
        if (magic == NbdWire.SimpleReplyMagic)
        {
            if (reader.Remaining < NbdWire.SimpleReplyLength - 4)
            {
                examined = buffer.End;
                return false;
            }
            reader.TryReadBigEndian(out int error);
            reader.TryReadBigEndian(out long cookie);
            reply = new NbdReply(false, 0, 0, (uint)error, (ulong)cookie, ReadOnlySequence<byte>.Empty);
            consumed = examined = reader.Position;
            return true;
        }
        if (magic != NbdWire.StructuredReplyMagic)
        {
            throw new NbdProtocolException($"bad reply magic 0x{magic:x8}");
        }
        if (reader.Remaining < NbdWire.ChunkHeaderLength - 4)
        {
            examined = buffer.End;
            return false;
        }
        reader.TryReadBigEndian(out short flags);
        reader.TryReadBigEndian(out short type);
        reader.TryReadBigEndian(out long chunkCookie);
        reader.TryReadBigEndian(out int length);
        if ((uint)length > MaxChunkLength)
        {
            throw new NbdProtocolException($"reply chunk length {(uint)length} exceeds {MaxChunkLength}");
        }
        if (reader.Remaining < length)
        {
            examined = buffer.End;
            return false;
        }
        var data = buffer.Slice(reader.Position, length);
        reply = new NbdReply(true, (ushort)flags, (ushort)type, 0, (ulong)chunkCookie, data);
        consumed = examined = data.End;
        return true;
    }
}
