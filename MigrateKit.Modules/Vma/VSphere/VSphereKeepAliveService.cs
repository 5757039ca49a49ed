using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MigrateKit.Modules.Vma.VSphere;

/// <summary>
/// Keeps the vCenter session alive between syncs (vCenter drops idle sessions after 30 minutes by
/// default) with a CurrentTime call every <see cref="Interval"/>, once the client has logged in.
/// A session that expired anyway is renewed by the call itself.
/// </summary>
internal sealed class VSphereKeepAliveService(VSphereClient client, TimeProvider time, ILogger<VSphereKeepAliveService>? logger = null)
    : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);

    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    /// <summary>How many keep-alive calls succeeded (for diagnostics and tests).</summary>
    public long Pings => Interlocked.Read(ref _pings);

    private long _pings;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await PingAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Host shutting down.
        }
    }

    internal async Task PingAsync(CancellationToken ct)
    {
        if (client.LoginCount == 0)
        {
            return; // nothing to keep alive until the agent first talks to vCenter
        }
        try
        {
            await client.KeepAliveAsync(ct).ConfigureAwait(false);
            Interlocked.Increment(ref _pings);
        }
        catch (VSphereException e)
        {
            // The next real call reconnects; a failed keep-alive must not stop the agent.
            VSphereLog.KeepAliveFailed(_logger, e.Message);
        }
    }
}
