using System.Text.Json.Nodes;

namespace MigrateKit.Tests.Support.Ossea;

internal sealed partial class OsseaEmulatorCloud
{
    // ---------------------------------------------------------------- jobs

    private JsonObject QueryAsyncJobResult(OsseaEmulatorParams p)
    {
        var jobId = p.Required("jobid");
        var job = _jobs.GetValueOrDefault(jobId) ?? throw p.InvalidValue("jobid", jobId);
        lock (_gate)
        {
            return job.ToJson();
        }
    }

    /// <summary>
    /// Queues an async job. <paramref name="vmQueue"/> serializes jobs per VM like ACS's VM work
    /// queue. An <see cref="EmulatorApiError"/> from <paramref name="work"/> fails the job with its
    /// code; anything else with 530, as ApiAsyncJobDispatcher does.
    /// </summary>
    private EmJob StartJob(string command, string? instanceType, string? instanceId, string? vmQueue, Func<JsonObject> work, Action? onFailure = null)
    {
        var job = new EmJob
        {
            Id = NewId(), Command = command, JavaCommand = JavaClass(command), Created = Now(),
            InstanceType = instanceType, InstanceId = instanceId,
        };
        _jobs[job.Id] = job;
        var token = _disposed.Token;
        var task = Task.Run(async () =>
        {
            var delay = _faults.JobDelay(command) ?? _options.JobDelay;
            await Task.Delay(delay, token).ConfigureAwait(false);
            var queue = vmQueue is null ? null : _vmQueues.GetOrAdd(vmQueue, _ => new SemaphoreSlim(1, 1));
            if (queue is not null)
            {
                await queue.WaitAsync(token).ConfigureAwait(false);
            }

            try
            {
                if (vmQueue is not null)
                {
                    var now = _vmInFlight.AddOrUpdate(vmQueue, 1, (_, n) => n + 1);
                    InterlockedMax(ref _maxVmConcurrency, now);
                    // Give overlapping jobs a chance to collide if the queue were missing.
                    await Task.Delay(_options.VmOperationTime, token).ConfigureAwait(false);
                }

                JsonObject result;
                try
                {
                    if (_faults.TakeJobFailure(command) is { } injected)
                    {
                        throw new EmulatorApiError(injected.Code, injected.Code == 530 ? 4250 : 4350, injected.Text);
                    }

                    result = work();
                }
                catch (EmulatorApiError error)
                {
                    onFailure?.Invoke();
                    Complete(job, 2, error.Code, new JsonObject
                    {
                        ["uuidList"] = new JsonArray(), ["errorcode"] = error.Code, ["cserrorcode"] = error.CsErrorCode, ["errortext"] = error.Text,
                    });
                    return;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    onFailure?.Invoke();
                    Complete(job, 2, 530, new JsonObject
                    {
                        ["uuidList"] = new JsonArray(), ["errorcode"] = 530, ["cserrorcode"] = 4250, ["errortext"] = ex.Message,
                    });
                    return;
                }

                Complete(job, 1, 0, result);
            }
            finally
            {
                if (vmQueue is not null)
                {
                    _vmInFlight.AddOrUpdate(vmQueue, 0, (_, n) => n - 1);
                    queue!.Release();
                }
            }
        }, token);
        lock (_running)
        {
            _running.RemoveAll(t => t.IsCompleted);
            _running.Add(task);
        }

        return job;
    }

    private void Complete(EmJob job, int status, int resultCode, JsonObject result)
    {
        lock (_gate)
        {
            job.Result = result;
            job.ResultCode = resultCode;
            job.Completed = Now();
            job.Status = status;
        }
    }

    public void Dispose()
    {
        _disposed.Cancel();
        Task[] running;
        lock (_running)
        {
            running = [.. _running];
        }

        try
        {
            Task.WaitAll(running, TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // Cancelled jobs end with OperationCanceledException; nothing else to do.
        }

        _disposed.Dispose();
    }
}
