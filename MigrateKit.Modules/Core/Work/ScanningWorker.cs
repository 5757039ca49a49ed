using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Core.Work;

/// <summary>
/// A background service that looks for stored work every <see cref="ScanInterval"/> (sooner when its
/// <see cref="WorkSignal"/> is pulsed) and runs each item in the background, one run per item id.
/// A failed scan is logged and retried at the next one. When the host stops, runs see the stopping
/// token and the service waits for them: work is left in its stored state for the next start.
/// </summary>
public abstract partial class ScanningWorker(WorkSignal? signal, TimeProvider time, ILogger logger) : BackgroundService
{
    private readonly Dictionary<Guid, Task> _running = [];

    protected TimeProvider Time { get; } = time;

    protected ILogger Logger { get; } = logger;

    protected abstract TimeSpan ScanInterval { get; }

    /// <summary>Finds due work and hands it to <see cref="TryStart"/> (or runs it some other way).</summary>
    protected abstract Task ScanAsync(CancellationToken ct);

    /// <summary>Runs started by <see cref="TryStart"/> that have not finished.</summary>
    protected int RunningCount => _running.Count;

    /// <summary>Waits for work started elsewhere than <see cref="TryStart"/> when the host stops.</summary>
    protected virtual Task WhenOtherRunsEndAsync() => Task.CompletedTask;

    /// <summary>Starts <paramref name="run"/> for <paramref name="id"/> unless a run for it is still going.</summary>
    protected bool TryStart(Guid id, Func<Task> run)
    {
        if (_running.ContainsKey(id))
        {
            return false;
        }
        _running[id] = Task.Run(run, CancellationToken.None);
        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                foreach (var done in _running.Where(r => r.Value.IsCompleted).Select(r => r.Key).ToList())
                {
                    _running.Remove(done);
                }
                await ScanAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                ScanFailed(Logger, GetType().Name, ex);
            }
            try
            {
                if (signal is null)
                {
                    await Task.Delay(ScanInterval, Time, stoppingToken);
                }
                else
                {
                    await signal.WaitAsync(ScanInterval, Time, stoppingToken);
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await Task.WhenAll(_running.Values.Append(WhenOtherRunsEndAsync())).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    [LoggerMessage(EventId = 120, EventName = "WorkScanFailed", Level = LogLevel.Error,
        Message = "{Worker}: looking for work failed; trying again at the next scan")]
    private static partial void ScanFailed(ILogger logger, string worker, Exception ex);
}
