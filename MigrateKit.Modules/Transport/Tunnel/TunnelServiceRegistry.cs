using System.Collections.Concurrent;

namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>Handles one incoming tunnel stream; the stream is closed when the task ends.</summary>
public delegate Task TunnelServiceHandler(Stream stream, CancellationToken cancellationToken);

/// <summary>
/// Services one side offers through the tunnel (<c>nbd</c>, <c>vma-api</c>, …). An incoming OPEN for a
/// name not registered here is answered with OPEN_REFUSED.
/// </summary>
public sealed class TunnelServiceRegistry
{
    private readonly ConcurrentDictionary<string, TunnelServiceHandler> _handlers = new(StringComparer.Ordinal);

    public TunnelServiceRegistry Register(string service, TunnelServiceHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (!TunnelWire.IsValidServiceName(service))
        {
            throw new ArgumentException($"invalid tunnel service name '{service}' (1-64 chars of a-z 0-9 . _ -)", nameof(service));
        }

        _handlers[service] = handler;
        return this;
    }

    public bool Unregister(string service) => _handlers.TryRemove(service, out _);

    internal TunnelServiceHandler? Find(string service) => _handlers.GetValueOrDefault(service);
}
