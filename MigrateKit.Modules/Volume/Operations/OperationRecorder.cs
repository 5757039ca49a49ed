using System.Text.Json;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume.Operations;

/// <summary>
/// Records a volume_operations row around each volume or VM command: request, response or error,
/// timings, the job and correlation ids of the job log it runs in, and the VM id as soon as it is
/// known (a create learns it half-way).
/// </summary>
internal sealed class OperationRecorder(VolumeStore volumes, VirtualMachineStore vms, IJobTracker jobs, TimeProvider time)
{
    // volume_operations.status (an ENUM): a row is inserted running and ends in one of these.
    private const string Completed = "completed";
    private const string Failed = "failed";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <param name="body">Runs the command; it gets the operation's id (for <see cref="SetVmAsync"/>).</param>
    /// <param name="resultVolumeId">The volume the result names, when the request could not (a create).</param>
    public async Task<T> RunAsync<T>(
        string type, string? volumeId, string? vmId, object request, Func<Guid, CancellationToken, Task<T>> body, CancellationToken ct,
        Func<T, string?>? resultVolumeId = null)
    {
        var id = Guid.NewGuid();
        await volumes.InsertOperationAsync(id, type, volumeId, vmId, JsonSerializer.Serialize(request, request.GetType(), Json),
            jobs.Current?.JobId, jobs.Current?.CorrelationId, time.GetUtcNow().UtcDateTime, ct);
        try
        {
            var result = await body(id, ct);
            await volumes.EndOperationAsync(id, Completed, resultVolumeId?.Invoke(result), JsonSerializer.Serialize(result, Json), null,
                time.GetUtcNow().UtcDateTime, CancellationToken.None);
            return result;
        }
        catch (Exception ex)
        {
            await volumes.EndOperationAsync(id, Failed, null, null, ex.Message, time.GetUtcNow().UtcDateTime, CancellationToken.None);
            throw;
        }
    }

    /// <inheritdoc cref="RunAsync{T}(string, string?, string?, object, Func{Guid, CancellationToken, Task{T}}, CancellationToken, Func{T, string?}?)"/>
    public Task<T> RunAsync<T>(
        string type, string? volumeId, string? vmId, object request, Func<CancellationToken, Task<T>> body, CancellationToken ct,
        Func<T, string?>? resultVolumeId = null) =>
        RunAsync(type, volumeId, vmId, request, (_, c) => body(c), ct, resultVolumeId);

    /// <summary>Records the VM an operation created, once OSSEA has named it.</summary>
    public Task SetVmAsync(Guid operationId, string vmId, CancellationToken ct) =>
        vms.SetOperationVmAsync(operationId, vmId, time.GetUtcNow().UtcDateTime, ct);
}
