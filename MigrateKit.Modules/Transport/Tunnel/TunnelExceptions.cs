namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>A stream was reset, refused, or lost with its connection.</summary>
public class TunnelStreamException(string message, uint code = 0) : IOException(message)
{
    /// <summary>The protocol reason code (see the protocol description in TunnelFrame.cs).</summary>
    public uint Code { get; } = code;
}

/// <summary>The peer answered OPEN with OPEN_REFUSED.</summary>
public sealed class TunnelOpenRefusedException(string service, uint code, string reason)
    : TunnelStreamException($"tunnel service '{service}' refused: {reason}", code);

/// <summary>No usable tunnel connection (closed, draining, or never established).</summary>
public sealed class TunnelUnavailableException(string message) : IOException(message);
