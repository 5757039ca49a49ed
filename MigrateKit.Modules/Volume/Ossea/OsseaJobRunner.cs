using System.Runtime.ExceptionServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// Starts async commands and waits for their jobs: polls <c>queryAsyncJobResult</c> with a growing
/// interval until the job ends or the deadline passes, and reports every job to the
/// <see cref="IOsseaJobRecorder"/>.
/// </summary>
internal sealed class OsseaJobRunner
{
    private readonly OsseaApiConnection _connection;
    private readonly IOsseaJobRecorder _recorder;
    private readonly ILogger _logger;

    public OsseaJobRunner(OsseaApiConnection connection, IOsseaJobRecorder recorder, ILogger logger)
    {
        _connection = connection;
        _recorder = recorder;
        _logger = logger;
    }

    private OsseaClientOptions Options => _connection.Options;

    private TimeProvider Time => _connection.Time;

    /// <summary>Sends an async command, waits for its job, and reads the result with <paramref name="readResult"/>.</summary>
    public Task<T> RunAsync<T>(
        OsseaRequest request, OsseaOperation operation, Func<JsonElement, T> readResult, CancellationToken cancellationToken) =>
        RunAsync(request, operation, readResult, onEntityCreated: null, cancellationToken);

    /// <summary>
    /// As <see cref="RunAsync{T}(OsseaRequest, OsseaOperation, Func{JsonElement, T}, CancellationToken)"/>, and tells
    /// <paramref name="onEntityCreated"/> the new entity's id as soon as the job starts (CloudStack answers an
    /// async create with <c>{id, jobid}</c>: the entity exists before its job ends). The job already runs in
    /// the cloud then, so a failing callback does not stop the wait: it is rethrown once the job succeeded.
    /// </summary>
    public async Task<T> RunAsync<T>(
        OsseaRequest request, OsseaOperation operation, Func<JsonElement, T> readResult,
        Func<string, CancellationToken, Task>? onEntityCreated, CancellationToken cancellationToken)
    {
        var start = await _connection.CallAsync(request, OsseaResponseReader.ReadAsyncStart, cancellationToken).ConfigureAwait(false);
        var started = Time.GetTimestamp();
        OsseaLog.JobStarted(_logger, request.Command, start.JobId, operation.OperationType, operation.CorrelationId, start.Id);
        await RecordAsync(request.Command, start.JobId,
            ct => _recorder.JobStartedAsync(new OsseaJobStarted(start.JobId, request.Command, operation, start.Id, Time.GetUtcNow()), ct),
            cancellationToken).ConfigureAwait(false);
        ExceptionDispatchInfo? callbackFailure = null;
        if (onEntityCreated is not null && !string.IsNullOrEmpty(start.Id))
        {
            try
            {
                await onEntityCreated(start.Id, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                callbackFailure = ExceptionDispatchInfo.Capture(ex);
            }
        }

        var job = await WaitAsync(request.Command, start.JobId, operation, cancellationToken).ConfigureAwait(false);
        var elapsedMs = (long)Time.GetElapsedTime(started).TotalMilliseconds;

        if (job.Status == OsseaJobStatus.Succeeded)
        {
            var resultJson = SanitizedResult(job);
            OsseaLog.JobCompleted(_logger, request.Command, job.JobId, elapsedMs);
            await FinishedAsync(request.Command, start.JobId, operation, OsseaJobOutcome.Completed, job, null, null, resultJson, cancellationToken)
                .ConfigureAwait(false);
            if (job.JobResult is not { ValueKind: JsonValueKind.Object } result)
            {
                throw new OsseaApiException(request.Command, OsseaErrorCodes.NoResponse, null,
                    "the job succeeded without a result object", isTransient: false, jobId: start.JobId);
            }

            callbackFailure?.Throw();
            try
            {
                return readResult(result);
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                throw new OsseaApiException(request.Command, OsseaErrorCodes.NoResponse, null,
                    $"unexpected job result shape: {ex.Message}", isTransient: false, jobId: start.JobId, inner: ex);
            }
        }

        var error = OsseaResponseReader.ReadJobError(job);
        var text = error.ErrorText ?? (job.Status == OsseaJobStatus.Cancelled ? "the job was cancelled" : "the job failed without an error text");
        var code = error.ErrorCode != 0 ? error.ErrorCode : OsseaErrorCodes.InternalError;
        OsseaLog.JobFailed(_logger, request.Command, start.JobId, code, text);
        await FinishedAsync(request.Command, start.JobId, operation, OsseaJobOutcome.Failed, job, code, text, SanitizedResult(job), cancellationToken)
            .ConfigureAwait(false);
        throw new OsseaApiException(request.Command, code, error.CsErrorCode, text, isTransient: false, jobId: start.JobId);
    }

    /// <summary>
    /// Polls a job until it is no longer in progress. Waits <c>JobPollInitial</c> first, then grows
    /// the interval by <c>JobPollIncrement</c> up to <c>JobPollMax</c>; never sleeps past the deadline.
    /// </summary>
    public async Task<OsseaAsyncJob> WaitAsync(string command, string jobId, OsseaOperation operation, CancellationToken cancellationToken)
    {
        var started = Time.GetTimestamp();
        var delay = Options.JobPollInitial;
        OsseaAsyncJob? last = null;
        while (true)
        {
            var remaining = Options.JobTimeout - Time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                var waited = Time.GetElapsedTime(started);
                OsseaLog.JobTimedOut(_logger, command, jobId, (long)waited.TotalMilliseconds);
                await FinishedAsync(command, jobId, operation, OsseaJobOutcome.TimedOut, last, null,
                    "the client stopped waiting; the job may still finish", null, cancellationToken).ConfigureAwait(false);
                throw new OsseaJobTimeoutException(command, jobId, null, waited);
            }

            await Task.Delay(delay < remaining ? delay : remaining, Time, cancellationToken).ConfigureAwait(false);
            last = await QueryAsync(jobId, cancellationToken).ConfigureAwait(false);
            if (last.Status != OsseaJobStatus.InProgress)
            {
                return last;
            }

            delay += Options.JobPollIncrement;
            delay = delay < Options.JobPollMax ? delay : Options.JobPollMax;
        }
    }

    /// <summary>
    /// Polls an entity (with the job polling intervals and deadline) until <paramref name="settled"/>
    /// holds; used when the job id is unknown because the answer that carried it was lost.
    /// </summary>
    public async Task<T?> WaitForStateAsync<T>(
        string command, string entityId, Func<CancellationToken, Task<T?>> get, Func<T?, bool> settled, CancellationToken cancellationToken)
    {
        var started = Time.GetTimestamp();
        var delay = Options.JobPollInitial;
        while (true)
        {
            var current = await get(cancellationToken).ConfigureAwait(false);
            if (settled(current))
            {
                return current;
            }

            var remaining = Options.JobTimeout - Time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                throw new OsseaJobTimeoutException(command, null, entityId, Time.GetElapsedTime(started));
            }

            await Task.Delay(delay < remaining ? delay : remaining, Time, cancellationToken).ConfigureAwait(false);
            delay += Options.JobPollIncrement;
            delay = delay < Options.JobPollMax ? delay : Options.JobPollMax;
        }
    }

    public Task<OsseaAsyncJob> QueryAsync(string jobId, CancellationToken cancellationToken)
    {
        var request = new OsseaRequest("queryAsyncJobResult", readOnly: true).Add("jobid", jobId);
        return _connection.CallAsync(request, OsseaResponseReader.ReadJob, cancellationToken);
    }

    private Task FinishedAsync(
        string command, string jobId, OsseaOperation operation, OsseaJobOutcome outcome, OsseaAsyncJob? job,
        int? errorCode, string? errorText, string? resultJson, CancellationToken cancellationToken)
    {
        var finished = new OsseaJobFinished(jobId, command, operation, outcome, job?.JobStatus ?? (int)OsseaJobStatus.InProgress,
            errorCode, errorText, resultJson, Time.GetUtcNow());
        return RecordAsync(command, jobId, ct => _recorder.JobFinishedAsync(finished, ct), cancellationToken);
    }

    private async Task RecordAsync(string command, string jobId, Func<CancellationToken, Task> record, CancellationToken cancellationToken)
    {
        try
        {
            await record(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            OsseaLog.RecorderFailed(_logger, ex, command, jobId);
        }
    }

    /// <summary>The job result as JSON for the job record, without any <c>password</c> field (deploy returns the VM password).</summary>
    internal static string? SanitizedResult(OsseaAsyncJob job)
    {
        if (job.JobResult is not { } result)
        {
            return null;
        }

        var node = JsonNode.Parse(result.GetRawText());
        RemovePasswords(node);
        return node?.ToJsonString();
    }

    private static void RemovePasswords(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var name in obj.Select(p => p.Key).Where(k => k.Contains("password", StringComparison.OrdinalIgnoreCase)).ToList())
                {
                    obj.Remove(name);
                }

                foreach (var (_, child) in obj)
                {
                    RemovePasswords(child);
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    RemovePasswords(child);
                }

                break;
        }
    }
}
