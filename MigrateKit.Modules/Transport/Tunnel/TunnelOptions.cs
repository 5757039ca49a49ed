namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>Limits and timers of one multiplexed tunnel connection (both ends use the same shape).</summary>
public sealed record TunnelConnectionOptions
{
    /// <summary>Bytes a peer may send on one stream before the reader frees them (per-stream credit).</summary>
    public int StreamWindow { get; init; } = 4 * 1024 * 1024;

    /// <summary>Bytes a peer may have in flight on the connection; freed as soon as they reach a stream buffer.</summary>
    public int ConnectionWindow { get; init; } = 16 * 1024 * 1024;

    /// <summary>Largest frame payload accepted; larger declared lengths close the connection before buffering.</summary>
    public int MaxFramePayload { get; init; } = TunnelWire.DefaultMaxFramePayload;

    /// <summary>Encoded-but-unsent bytes above which stream writers wait (output backpressure).</summary>
    public int OutputBacklogLimit { get; init; } = 2 * 1024 * 1024;

    /// <summary>Streams the peer may have open towards us at once; more are refused.</summary>
    public int MaxIncomingStreams { get; init; } = 1024;

    public TimeSpan PingInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Nothing received for this long closes the connection.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(45);

    /// <summary>How long an OPEN waits for OPEN_ACK/OPEN_REFUSED.</summary>
    public TimeSpan OpenTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a graceful GOAWAY waits for running streams before closing.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    internal void Validate()
    {
        if (StreamWindow < 64 * 1024 || ConnectionWindow < InitialConnectionWindow)
        {
            throw new ArgumentException("tunnel windows must be at least 64 KiB per stream and 1 MiB per connection");
        }

        if (MaxFramePayload < TunnelWire.MaxDataPayload)
        {
            throw new ArgumentException($"MaxFramePayload must be at least {TunnelWire.MaxDataPayload}");
        }

        if (KeepAliveTimeout <= PingInterval)
        {
            throw new ArgumentException("KeepAliveTimeout must be longer than PingInterval");
        }
    }

    /// <summary>Connection credit each side starts with; more is granted by an initial WINDOW_UPDATE(0).</summary>
    internal const int InitialConnectionWindow = 1024 * 1024;
}
