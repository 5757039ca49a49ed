using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MySqlConnector;

namespace MigrateKit.Modules.Core.JobLog;

/// <summary>
/// At start-up, jobs and steps still marked running were cut off by the previous OMA process
/// (a crash, kill -9, power loss): they end as failed, saying so. The work itself resumes from
/// its own persisted state under a new job; this only keeps the job log truthful.
/// One OMA process per database is the supported setup, so nothing else can own them.
/// </summary>
internal sealed partial class InterruptedJobSweep(JobStore store, TimeProvider time, ILogger<InterruptedJobSweep> logger) : IHostedService
{
    public const string Reason = "interrupted: the OMA stopped while this job ran";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var ended = await store.EndInterruptedAsync(Reason, time.GetUtcNow().UtcDateTime, cancellationToken);
            if (ended > 0)
            {
                LogSwept(logger, ended);
            }
        }
        catch (MySqlException ex)
        {
            // The database may not be up yet; the jobs stay as they are until the next start.
            LogSweepFailed(logger, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 110, EventName = "InterruptedJobsEnded", Level = LogLevel.Warning,
        Message = "{Count} jobs were still running when the OMA last stopped; they are marked failed (interrupted)")]
    private static partial void LogSwept(ILogger logger, int count);

    [LoggerMessage(EventId = 111, EventName = "InterruptedJobSweepFailed", Level = LogLevel.Warning,
        Message = "Could not mark interrupted jobs at start-up")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
