namespace MigrateKit.Modules.Transport.Nbd;

// NBD wire constants (NetworkBlockDevice/nbd doc/proto.md). All integers are big-endian.
//
// Handshake (fixed newstyle):
//   S: u64 NBDMAGIC | u64 IHAVEOPT | u16 handshake flags
//   C: u32 client flags
//   C: u64 IHAVEOPT | u32 option | u32 length | data[length]
//   S: u64 REPLY_MAGIC | u32 option | u32 reply type | u32 length | data[length]
//
// Transmission:
//   request  (28): u32 REQUEST_MAGIC | u16 flags | u16 type | u64 cookie | u64 offset | u32 length | payload (WRITE)
//   simple   (16): u32 SIMPLE_REPLY_MAGIC | u32 error | u64 cookie | data (READ)
//   chunk    (20): u32 STRUCTURED_REPLY_MAGIC | u16 flags | u16 type | u64 cookie | u32 length | data[length]
internal static class NbdWire
{
    public const int DefaultPort = 10809;

    public const ulong NbdMagic = 0x4e42444d41474943;       // "NBDMAGIC"
    public const ulong IHaveOpt = 0x49484156454F5054;       // "IHAVEOPT"
    public const ulong OptionReplyMagic = 0x3e889045565a9;
    public const uint RequestMagic = 0x25609513;
    public const uint SimpleReplyMagic = 0x67446698;
    public const uint StructuredReplyMagic = 0x668e33ef;

    public const int RequestHeaderLength = 28;
    public const int SimpleReplyLength = 16;
    public const int ChunkHeaderLength = 20;
    public const int OptionHeaderLength = 16;
    public const int OptionReplyHeaderLength = 20;

    // Largest READ/WRITE payload we accept or send; the spec says 2^25 must never count as abuse.
    public const int MaxPayload = 32 * 1024 * 1024;
    // Option data is small (names ≤ 4096 bytes plus a few queries); anything bigger is hostile.
    public const int MaxOptionLength = 64 * 1024;
    public const int MaxStringLength = 4096;
    public const int PreferredBlockSize = 4096;
    public const int MinBlockSize = 1;

    // Handshake flags (server) and client flags.
    public const ushort FlagFixedNewstyle = 1 << 0;
    public const ushort FlagNoZeroes = 1 << 1;
    public const uint ClientFlagFixedNewstyle = 1 << 0;
    public const uint ClientFlagNoZeroes = 1 << 1;
    public const uint KnownClientFlags = ClientFlagFixedNewstyle | ClientFlagNoZeroes;

    // Options.
    public const uint OptExportName = 1;
    public const uint OptAbort = 2;
    public const uint OptList = 3;
    public const uint OptStartTls = 5;
    public const uint OptInfo = 6;
    public const uint OptGo = 7;
    public const uint OptStructuredReply = 8;
    public const uint OptListMetaContext = 9;
    public const uint OptSetMetaContext = 10;

    // Option reply types.
    public const uint RepAck = 1;
    public const uint RepServer = 2;
    public const uint RepInfo = 3;
    public const uint RepMetaContext = 4;
    public const uint RepErrorBit = 1u << 31;
    public const uint RepErrUnsup = RepErrorBit + 1;
    public const uint RepErrPolicy = RepErrorBit + 2;
    public const uint RepErrInvalid = RepErrorBit + 3;
    public const uint RepErrPlatform = RepErrorBit + 4;
    public const uint RepErrTlsReqd = RepErrorBit + 5;
    public const uint RepErrUnknown = RepErrorBit + 6;
    public const uint RepErrShutdown = RepErrorBit + 7;
    public const uint RepErrBlockSizeReqd = RepErrorBit + 8;
    public const uint RepErrTooBig = RepErrorBit + 9;

    // Info types.
    public const ushort InfoExport = 0;
    public const ushort InfoName = 1;
    public const ushort InfoDescription = 2;
    public const ushort InfoBlockSize = 3;

    // Transmission flags.
    public const ushort TxHasFlags = 1 << 0;
    public const ushort TxReadOnly = 1 << 1;
    public const ushort TxSendFlush = 1 << 2;
    public const ushort TxSendFua = 1 << 3;
    public const ushort TxRotational = 1 << 4;
    public const ushort TxSendTrim = 1 << 5;
    public const ushort TxSendWriteZeroes = 1 << 6;
    public const ushort TxSendDf = 1 << 7;
    public const ushort TxCanMultiConn = 1 << 8;
    public const ushort TxSendCache = 1 << 10;
    public const ushort TxSendFastZero = 1 << 11;

    // Command flags.
    public const ushort CmdFlagFua = 1 << 0;
    public const ushort CmdFlagNoHole = 1 << 1;
    public const ushort CmdFlagDf = 1 << 2;
    public const ushort CmdFlagReqOne = 1 << 3;
    public const ushort CmdFlagFastZero = 1 << 4;

    // Commands.
    public const ushort CmdRead = 0;
    public const ushort CmdWrite = 1;
    public const ushort CmdDisc = 2;
    public const ushort CmdFlush = 3;
    public const ushort CmdTrim = 4;
    public const ushort CmdCache = 5;
    public const ushort CmdWriteZeroes = 6;
    public const ushort CmdBlockStatus = 7;

    // Structured reply chunks.
    public const ushort ReplyFlagDone = 1 << 0;
    public const ushort ChunkNone = 0;
    public const ushort ChunkOffsetData = 1;
    public const ushort ChunkOffsetHole = 2;
    public const ushort ChunkBlockStatus = 5;
    public const ushort ChunkError = (1 << 15) + 1;
    public const ushort ChunkErrorOffset = (1 << 15) + 2;

    // base:allocation extent flags.
    public const uint StateHole = 1 << 0;
    public const uint StateZero = 1 << 1;
    public const string BaseAllocation = "base:allocation";
    public const uint BaseAllocationContextId = 1;

    /// <summary>Allowed command flags per command; anything else is answered with EINVAL.</summary>
    public static ushort AllowedFlags(ushort command) => command switch
    {
        CmdRead => CmdFlagDf,
        CmdWrite => CmdFlagFua,
        CmdTrim => CmdFlagFua,
        CmdWriteZeroes => (ushort)(CmdFlagFua | CmdFlagNoHole | CmdFlagFastZero),
        CmdBlockStatus => CmdFlagReqOne,
        _ => 0,
    };

    public static string OptionName(uint option) => option switch
    {
        OptExportName => "EXPORT_NAME",
        OptAbort => "ABORT",
        OptList => "LIST",
        OptStartTls => "STARTTLS",
        OptInfo => "INFO",
        OptGo => "GO",
        OptStructuredReply => "STRUCTURED_REPLY",
        OptListMetaContext => "LIST_META_CONTEXT",
        OptSetMetaContext => "SET_META_CONTEXT",
        _ => $"OPTION_{option}",
    };

    public static string CommandName(ushort command) => command switch
    {
        CmdRead => "READ",
        CmdWrite => "WRITE",
        CmdDisc => "DISC",
        CmdFlush => "FLUSH",
        CmdTrim => "TRIM",
        CmdCache => "CACHE",
        CmdWriteZeroes => "WRITE_ZEROES",
        CmdBlockStatus => "BLOCK_STATUS",
        _ => $"CMD_{command}",
    };

    public static string OptionReplyName(uint reply) => reply switch
    {
        RepAck => "ACK",
        RepServer => "SERVER",
        RepInfo => "INFO",
        RepMetaContext => "META_CONTEXT",
        RepErrUnsup => "ERR_UNSUP",
        RepErrPolicy => "ERR_POLICY",
        RepErrInvalid => "ERR_INVALID",
        RepErrPlatform => "ERR_PLATFORM",
        RepErrTlsReqd => "ERR_TLS_REQD",
        RepErrUnknown => "ERR_UNKNOWN",
        RepErrShutdown => "ERR_SHUTDOWN",
        RepErrBlockSizeReqd => "ERR_BLOCK_SIZE_REQD",
        RepErrTooBig => "ERR_TOO_BIG",
        _ => $"REP_{reply:x}",
    };
}

/// <summary>NBD error values carried in replies (errno numbering fixed by the protocol).</summary>
public enum NbdError : uint
{
    None = 0,
    EPERM = 1,
    EIO = 5,
    ENOMEM = 12,
    EINVAL = 22,
    ENOSPC = 28,
    EOVERFLOW = 75,
    ENOTSUP = 95,
    ESHUTDOWN = 108,
}
