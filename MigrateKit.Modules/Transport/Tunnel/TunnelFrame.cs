using System.Buffers;
using System.Buffers.Binary;

namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>Frame types of the <c>migratekit-tunnel/1</c> protocol.</summary>
internal enum TunnelFrameType : byte
{
    /// <summary>Stream bytes. Payload: the bytes. Consumes stream and connection credit.</summary>
    Data = 0,
    /// <summary>Open a stream. Payload: u32 initial receive window of the opener, u8 name length, service name (ASCII).</summary>
    Open = 1,
    /// <summary>Stream accepted. Payload: u32 initial receive window of the acceptor.</summary>
    OpenAck = 2,
    /// <summary>Stream refused. Payload: u32 reason code, UTF-8 message.</summary>
    OpenRefused = 3,
    /// <summary>Half-close: the sender will send no more DATA on this stream. Empty payload.</summary>
    Fin = 4,
    /// <summary>Abort the stream in both directions. Payload: u32 reason code, UTF-8 message.</summary>
    Reset = 5,
    /// <summary>Grant more credit. Payload: u32 increment. Stream id 0 = the connection window.</summary>
    WindowUpdate = 6,
    /// <summary>Keep-alive probe. Payload: 8 opaque bytes, echoed by PONG. Stream id 0.</summary>
    Ping = 7,
    /// <summary>Keep-alive answer. Payload: the 8 bytes of the PING. Stream id 0.</summary>
    Pong = 8,
    /// <summary>The sender accepts no new streams and will close. Payload: u32 last peer stream id it handled, u32 code, UTF-8 message. Stream id 0.</summary>
    GoAway = 9,
}

/// <summary>Reason codes carried by RESET, OPEN_REFUSED and GOAWAY.</summary>
internal enum TunnelErrorCode : uint
{
    NoError = 0,
    ProtocolError = 1,
    FlowControlError = 2,
    UnknownService = 3,
    Cancelled = 4,
    HandlerFailed = 5,
    Refused = 6,
    Unauthorized = 7,
    KeepAliveTimeout = 8,
    Shutdown = 9,
    InternalError = 10,
}

/// <summary>One parsed frame; <see cref="Payload"/> is a slice of the connection's receive buffer.</summary>
internal readonly struct TunnelFrame(TunnelFrameType type, byte flags, uint streamId, ReadOnlySequence<byte> payload)
{
    public TunnelFrameType Type { get; } = type;
    public byte Flags { get; } = flags;
    public uint StreamId { get; } = streamId;
    public ReadOnlySequence<byte> Payload { get; } = payload;
}

/// <summary>
/// Wire format of one tunnel frame (all integers big-endian):
/// <code>
///  0        1        2        3
/// +--------+--------+--------+--------+
/// |  type  | flags  |  reserved (0)   |   TypeOffset=0, FlagsOffset=1, ReservedOffset=2
/// +--------+--------+--------+--------+
/// |          stream id (u32)          |   StreamIdOffset=4   (0 = the connection itself)
/// +--------+--------+--------+--------+
/// |        payload length (u32)       |   LengthOffset=8     (checked against the maximum before buffering)
/// +--------+--------+--------+--------+
/// |   payload (length bytes) ...          PayloadOffset=12
/// +--------+---- ...
/// </code>
/// Stream ids: the dialling side (agent) opens odd ids, the listening side (OMA) even ids,
/// each strictly increasing. Flags are reserved and must be 0 in version 1.
/// </summary>
internal static class TunnelWire
{
    public const string TunnelAlpn = "migratekit-tunnel/1";
    public const string EnrollAlpn = "migratekit-enroll/1";

    public const int TypeOffset = 0;
    public const int FlagsOffset = 1;
    public const int ReservedOffset = 2;
    public const int StreamIdOffset = 4;
    public const int LengthOffset = 8;
    public const int HeaderSize = 12;

    /// <summary>Largest DATA payload this implementation sends (receivers accept up to their configured maximum).</summary>
    public const int MaxDataPayload = 128 * 1024;
    /// <summary>Default upper bound a receiver accepts for any frame payload.</summary>
    public const int DefaultMaxFramePayload = 1024 * 1024;
    /// <summary>Largest control-frame payload (OPEN, RESET, GOAWAY messages) regardless of the data maximum.</summary>
    public const int MaxControlPayload = 1024;
    public const int MaxServiceNameLength = 64;
    public const int PingPayloadSize = 8;

    /// <summary>
    /// Parses one frame. Returns false (consumed = start, examined = end) when more bytes are needed;
    /// throws <see cref="TunnelProtocolException"/> for malformed or oversized frames, without
    /// buffering an oversized payload.
    /// </summary>
    public static bool TryParse(in ReadOnlySequence<byte> buffer, int maxPayload, ref SequencePosition consumed,
        ref SequencePosition examined, out TunnelFrame frame)
    {
        frame = default;
        if (buffer.Length < HeaderSize)
        {
            examined = buffer.End;
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        var first = buffer.FirstSpan;
        if (first.Length >= HeaderSize)
        {
            first[..HeaderSize].CopyTo(header);
        }
        else
        {
            buffer.Slice(0, HeaderSize).CopyTo(header);
        }

        var rawType = header[TypeOffset];
        var flags = header[FlagsOffset];
        var reserved = BinaryPrimitives.ReadUInt16BigEndian(header[ReservedOffset..]);
        var streamId = BinaryPrimitives.ReadUInt32BigEndian(header[StreamIdOffset..]);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[LengthOffset..]);

        if (rawType > (byte)TunnelFrameType.GoAway)
        {
            throw new TunnelProtocolException($"unknown frame type {rawType}");
        }

        var type = (TunnelFrameType)rawType;
        if (flags != 0 || reserved != 0)
        {
            throw new TunnelProtocolException($"{type} frame with non-zero flags/reserved bits");
        }

        ValidateLength(type, streamId, length, maxPayload);

        if (buffer.Length - HeaderSize < length)
        {
            examined = buffer.End;
            return false;
        }

        var payload = buffer.Slice(HeaderSize, length);
        frame = new TunnelFrame(type, flags, streamId, payload);
        consumed = payload.End;
        examined = consumed;
        return true;
    }

    private static void ValidateLength(TunnelFrameType type, uint streamId, uint length, int maxPayload)
    {
        var connectionLevel = type is TunnelFrameType.Ping or TunnelFrameType.Pong or TunnelFrameType.GoAway;
        if (connectionLevel != (streamId == 0) && type != TunnelFrameType.WindowUpdate)
        {
            throw new TunnelProtocolException(connectionLevel
                ? $"{type} frame on stream {streamId} (must be stream 0)"
                : $"{type} frame on stream 0");
        }

        var ok = type switch
        {
            TunnelFrameType.Data => length <= (uint)maxPayload,
            TunnelFrameType.Open => length is >= 6 and <= 5 + MaxServiceNameLength,
            TunnelFrameType.OpenAck => length == 4,
            TunnelFrameType.OpenRefused or TunnelFrameType.Reset => length is >= 4 and <= MaxControlPayload,
            TunnelFrameType.Fin => length == 0,
            TunnelFrameType.WindowUpdate => length == 4,
            TunnelFrameType.Ping or TunnelFrameType.Pong => length == PingPayloadSize,
            TunnelFrameType.GoAway => length is >= 8 and <= MaxControlPayload,
            _ => false,
        };
        if (!ok)
        {
            throw new TunnelProtocolException($"{type} frame with invalid payload length {length}");
        }
    }

    /// <summary>Writes a frame header into <paramref name="destination"/> (at least <see cref="HeaderSize"/> bytes).</summary>
    public static void WriteHeader(Span<byte> destination, TunnelFrameType type, uint streamId, int payloadLength)
    {
        destination[TypeOffset] = (byte)type;
        destination[FlagsOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[ReservedOffset..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(destination[StreamIdOffset..], streamId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[LengthOffset..], (uint)payloadLength);
    }

    /// <summary>Reads the leading u32 of a control payload (window, code, increment).</summary>
    public static uint ReadUInt32(in ReadOnlySequence<byte> payload, int offset = 0)
    {
        Span<byte> tmp = stackalloc byte[4];
        payload.Slice(offset, 4).CopyTo(tmp);
        return BinaryPrimitives.ReadUInt32BigEndian(tmp);
    }

    /// <summary>Reads the UTF-8 text that follows the fixed fields of a control payload.</summary>
    public static string ReadText(in ReadOnlySequence<byte> payload, int offset)
        => System.Text.EncodingExtensions.GetString(System.Text.Encoding.UTF8, payload.Slice(offset));

    /// <summary>
    /// Parses an OPEN payload. A well-formed frame with an invalid service name is not a protocol
    /// error: the stream is refused, so the name comes back null and the reason is set.
    /// </summary>
    public static (uint Window, string? Service, string? Error) ParseOpen(in ReadOnlySequence<byte> payload)
    {
        var window = ReadUInt32(payload);
        Span<byte> lenByte = stackalloc byte[1];
        payload.Slice(4, 1).CopyTo(lenByte);
        var nameLength = lenByte[0];
        if (nameLength != payload.Length - 5)
        {
            throw new TunnelProtocolException($"OPEN frame name length {nameLength} does not match payload length {payload.Length}");
        }

        Span<byte> name = stackalloc byte[MaxServiceNameLength];
        name = name[..nameLength];
        payload.Slice(5).CopyTo(name);
        return IsValidServiceName(name)
            ? (window, System.Text.Encoding.ASCII.GetString(name), null)
            : (window, null, "invalid service name");
    }

    public static bool IsValidServiceName(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty || name.Length > MaxServiceNameLength)
        {
            return false;
        }

        foreach (var b in name)
        {
            var ok = b is >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9' or (byte)'-' or (byte)'_' or (byte)'.';
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    public static bool IsValidServiceName(string name)
    {
        if (name.Length is 0 or > MaxServiceNameLength)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[name.Length];
        for (var i = 0; i < name.Length; i++)
        {
            if (name[i] > 127)
            {
                return false;
            }

            bytes[i] = (byte)name[i];
        }

        return IsValidServiceName(bytes);
    }
}

/// <summary>The peer broke the tunnel protocol; the connection is closed with this reason.</summary>
public sealed class TunnelProtocolException(string message) : Exception(message);
