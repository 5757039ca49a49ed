using System.Collections.Concurrent;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Core.Security;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Ossea;

namespace MigrateKit.Modules.Volume.Operations;

/// <summary>Persists every OSSEA async job to cloudstack_job_tracking.</summary>
internal sealed class DbOsseaJobRecorder(VolumeStore store) : IOsseaJobRecorder
{
    public Task JobStartedAsync(OsseaJobStarted job, CancellationToken cancellationToken) =>
        store.InsertCloudstackJobAsync(job.JobId, job.Command, job.Operation.OperationType, job.Operation.CorrelationId,
            job.Operation.ParentJobId, job.StartedAt.UtcDateTime, cancellationToken);

    public Task JobFinishedAsync(OsseaJobFinished job, CancellationToken cancellationToken) =>
        store.EndCloudstackJobAsync(job.JobId, job.CloudStackStatus switch { 1 => CloudstackJobStatuses.Succeeded, 2 => CloudstackJobStatuses.Failed, _ => CloudstackJobStatuses.InProgress },
            job.Outcome switch { OsseaJobOutcome.Completed => "completed", OsseaJobOutcome.Failed => "failed", _ => "timed_out" },
            job.ErrorCode is null ? job.ErrorText : $"{job.ErrorCode}: {job.ErrorText}", job.ResultJson, job.FinishedAt.UtcDateTime, cancellationToken);
}
