using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume.Exports;

/// <summary>
/// The OMA's NBD server. Its export table mirrors <c>nbd_exports</c>: loaded at start, reloaded on
/// SIGHUP and whenever the Volume module changes an export, without dropping running transfers.
/// It listens on loopback only and is offered to agents as the tunnel service "nbd".
/// </summary>
internal sealed partial class NbdExportService(
    VolumeOptions options,
    VolumeStore store,
    TunnelServiceRegistry tunnelServices,
    ILoggerFactory loggers) : IHostedService, IAsyncDisposable
{
    public const string TunnelServiceName = "nbd";

    private readonly ILogger _logger = loggers.CreateLogger<NbdExportService>();
    private readonly NbdExportTable _exports = new();
    private NbdServer? _server;
    private PosixSignalRegistration? _sighup;
    private int _disposed;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _retry;

    public IPEndPoint? LocalEndPoint => _server?.LocalEndPoint;

    public int Port => LocalEndPoint?.Port ?? options.NbdListen.Port;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.NbdEnabled)
        {
            return;
        }
        if (!await TryReloadAsync(cancellationToken))
        {
            // The database may come up after us; serve what we can and load the exports when it does.
            _retry = RetryReloadAsync(_stopping.Token);
        }
        _server = new NbdServer(_exports, new NbdServerOptions { EndPoint = options.NbdListen }, loggers.CreateLogger<NbdServer>());
        _server.Start();
        tunnelServices.Register(TunnelServiceName, (stream, ct) => _server.ServeAsync(stream, ct));
        if (!OperatingSystem.IsWindows())
        {
            _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true; // SIGHUP means "reload", not "terminate"
                _ = ReloadInBackgroundAsync();
            });
        }
        LogListening(_logger, _server.LocalEndPoint?.ToString() ?? "?", _exports.Snapshot().Count);
    }

    /// <summary>Makes the served table equal to nbd_exports; running connections to kept exports go on.</summary>
    public async Task ReloadAsync(CancellationToken ct)
    {
        var rows = await store.ListExportsAsync(ct);
        _exports.ReplaceAll(rows.Where(r => r.Status == NbdExportStatuses.Active).Select(r => new NbdExportDefinition(r.ExportName, r.DevicePath)));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        tunnelServices.Unregister(TunnelServiceName);
        await _stopping.CancelAsync();
        if (_retry is not null)
        {
            await _retry.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task<bool> TryReloadAsync(CancellationToken ct)
    {
        try
        {
            await ReloadAsync(ct);
            return true;
        }
        catch (Exception ex) when (ex is MySqlConnector.MySqlException or InvalidOperationException)
        {
            LogReloadFailed(_logger, ex);
            return false;
        }
    }

    private async Task RetryReloadAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested && !await TryReloadAsync(ct))
        {
            await Task.Delay(TimeSpan.FromSeconds(5), ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _sighup?.Dispose();
        _stopping.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    private async Task ReloadInBackgroundAsync()
    {
        try
        {
            await ReloadAsync(CancellationToken.None);
            LogReloaded(_logger, _exports.Snapshot().Count);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogReloadFailed(_logger, ex);
        }
    }

    [LoggerMessage(EventId = 600, EventName = "NbdListening", Level = LogLevel.Information, Message = "NBD server on {Endpoint} with {Count} exports")]
    private static partial void LogListening(ILogger logger, string endpoint, int count);

    [LoggerMessage(EventId = 601, EventName = "NbdReloaded", Level = LogLevel.Information, Message = "NBD exports reloaded on SIGHUP: {Count} exports")]
    private static partial void LogReloaded(ILogger logger, int count);

    [LoggerMessage(EventId = 602, EventName = "NbdReloadFailed", Level = LogLevel.Error, Message = "Loading NBD exports from the database failed")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);
}
