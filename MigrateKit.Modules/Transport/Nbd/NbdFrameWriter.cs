using System.Buffers.Binary;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>Encoders for fixed-size NBD headers (layouts in <see cref="NbdWire"/>).</summary>
internal static class NbdFrameWriter
{
    public static void WriteRequest(Span<byte> destination, ushort flags, ushort type, ulong cookie, ulong offset, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdWire.RequestMagic);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], type);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], cookie);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], offset);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], length);
    }

    public static void WriteSimpleReply(Span<byte> destination, uint error, ulong cookie)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdWire.SimpleReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], error);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], cookie);
    }

    public static void WriteChunkHeader(Span<byte> destination, ushort flags, ushort type, ulong cookie, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdWire.StructuredReplyMagic);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], type);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], length);
    }

    public static void WriteOption(Span<byte> destination, uint option, uint length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdWire.IHaveOpt);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], option);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], length);
    }

    public static void WriteOptionReply(Span<byte> destination, uint option, uint type, uint length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdWire.OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], option);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], type);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], length);
    }
}
