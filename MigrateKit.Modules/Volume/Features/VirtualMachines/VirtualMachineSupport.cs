using System.Runtime.ExceptionServices;
using System.Text.Json;
using FluentValidation;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

internal static class VirtualMachineViews
{
    /// <summary>Whether the VM is gone for MigrateKit's purposes (expunge is under way or done).</summary>
    public static bool IsGone(OsseaVirtualMachine vm) => OsseaVmStates.IsGone(vm.State);

    public static VirtualMachineView ToView(this OsseaVirtualMachine vm) => new(
        vm.Id, vm.Name ?? vm.Id, vm.DisplayName, vm.State ?? OsseaVmStates.Unknown, vm.ServiceOfferingId,
        vm.Nic.Select(n => new VirtualMachineNicView(n.NetworkId ?? "", n.NetworkName, n.MacAddress, n.IpAddress, n.IsDefault)).ToList());

    /// <summary>The VM, or 404 when OSSEA does not know it (or it is gone).</summary>
    public static async Task<OsseaVirtualMachine> RequireAsync(IOsseaClient client, string vmId, CancellationToken ct)
    {
        var vm = await client.GetVirtualMachineAsync(vmId, ct);
        return vm is null || IsGone(vm) ? throw new NotFoundException($"OSSEA has no VM {vmId}.") : vm;
    }
}

/// <summary>Rules shared by the VM validators.</summary>
internal static class VirtualMachineRules
{
    /// <summary>
    /// OSSEA's (CloudStack's) host name rule for VM names: ASCII letters, digits and '-', 1-63 characters,
    /// starting with a letter and not ending with '-'. Checked here so a bad name is a 400, not an OSSEA 431.
    /// </summary>
    public const string HostNamePattern = "^[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

    public static IRuleBuilderOptions<T, string> OsseaId<T>(this IRuleBuilder<T, string> rule) => rule.NotEmpty().MaximumLength(64);

    public static IRuleBuilderOptions<T, string> VmHostName<T>(this IRuleBuilder<T, string> rule) => rule.NotEmpty().Matches(HostNamePattern)
        .WithMessage("Name must be 1-63 ASCII letters, digits or '-', start with a letter and not end with '-' (OSSEA host name rule).");
}

/// <summary>
/// volume_operations rows for VM commands (create_vm, start_vm, stop_vm, destroy_vm): request, response
/// or error, and the VM id as soon as it is known (a create learns it half-way).
/// </summary>
internal sealed class VirtualMachineOperations(VolumeStore volumes, VirtualMachineStore store, IJobTracker jobs, TimeProvider time)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<T> RunAsync<T>(string type, string? vmId, object request, Func<Guid, CancellationToken, Task<T>> body, CancellationToken ct)
    {
        var id = Guid.NewGuid();
        await volumes.InsertOperationAsync(id, type, null, vmId, JsonSerializer.Serialize(request, request.GetType(), Json),
            jobs.Current?.JobId, jobs.Current?.CorrelationId, time.GetUtcNow().UtcDateTime, ct);
        try
        {
            var result = await body(id, ct);
            await volumes.EndOperationAsync(id, "completed", null, JsonSerializer.Serialize(result, Json), null,
                time.GetUtcNow().UtcDateTime, CancellationToken.None);
            return result;
        }
        catch (Exception ex)
        {
            await volumes.EndOperationAsync(id, "failed", null, null, ex.Message, time.GetUtcNow().UtcDateTime, CancellationToken.None);
            throw;
        }
    }

    public Task SetVmAsync(Guid operationId, string vmId, CancellationToken ct) =>
        store.SetOperationVmAsync(operationId, vmId, time.GetUtcNow().UtcDateTime, ct);
}

/// <summary>
/// Lets CreateVirtualMachine learn a new VM's id from the deploy job's start (CloudStack answers
/// deployVirtualMachine with <c>{id, jobid}</c>: the VM exists before the job ends). The watch is
/// ambient (AsyncLocal) so only deploys sent from inside <see cref="Begin"/> reach its callback.
/// </summary>
internal sealed class DeployWatch : IDisposable
{
    private static readonly AsyncLocal<DeployWatch?> Ambient = new();

    private readonly Func<string, CancellationToken, Task> _onVmId;
    private readonly DeployWatch? _outer;
    private ExceptionDispatchInfo? _failure;

    private DeployWatch(Func<string, CancellationToken, Task> onVmId, DeployWatch? outer)
    {
        _onVmId = onVmId;
        _outer = outer;
    }

    public static DeployWatch Begin(Func<string, CancellationToken, Task> onVmId)
    {
        var watch = new DeployWatch(onVmId, Ambient.Value);
        Ambient.Value = watch;
        return watch;
    }

    /// <summary>
    /// The job recorder swallows its own failures (the job already runs in the cloud), so a failed
    /// callback is kept here and rethrown by the create once the deploy call returns.
    /// </summary>
    public void ThrowIfCallbackFailed() => _failure?.Throw();

    public void Dispose() => Ambient.Value = _outer;

    internal static async Task NotifyAsync(OsseaJobStarted job, CancellationToken ct)
    {
        if (job.Command != "deployVirtualMachine" || string.IsNullOrEmpty(job.EntityId) || Ambient.Value is not { } watch)
        {
            return;
        }
        try
        {
            await watch._onVmId(job.EntityId, ct);
        }
        catch (Exception ex)
        {
            watch._failure ??= ExceptionDispatchInfo.Capture(ex);
        }
    }
}

/// <summary>Persists OSSEA jobs (<see cref="DbOsseaJobRecorder"/>) and tells an ambient <see cref="DeployWatch"/> about new VM ids.</summary>
internal sealed class DeployWatchingJobRecorder(DbOsseaJobRecorder inner) : IOsseaJobRecorder
{
    public async Task JobStartedAsync(OsseaJobStarted job, CancellationToken cancellationToken)
    {
        try
        {
            await inner.JobStartedAsync(job, cancellationToken);
        }
        finally
        {
            // Even when the job row could not be written: the caller must learn the VM id.
            await DeployWatch.NotifyAsync(job, cancellationToken);
        }
    }

    public Task JobFinishedAsync(OsseaJobFinished job, CancellationToken cancellationToken) => inner.JobFinishedAsync(job, cancellationToken);
}

/// <summary>
/// Start, stop and destroy whose answer was lost (<see cref="OsseaApiException.OutcomeUnknown"/>): the
/// client does not resend them blindly, so this looks at the VM once it has settled, and resends only
/// when OSSEA shows the change did not happen. A refused resend (the lost one ran meanwhile) is
/// checked the same way before it is passed on.
/// </summary>
internal sealed class VirtualMachineStateChanges(Microsoft.Extensions.Options.IOptions<OsseaClientOptions> options, TimeProvider time)
{
    /// <param name="done">Whether the VM (null: gone) shows the change happened.</param>
    public async Task<OsseaVirtualMachine?> RunAsync(
        IOsseaClient client, string vmId, Func<CancellationToken, Task<OsseaVirtualMachine>> change, Func<OsseaVirtualMachine?, bool> done,
        CancellationToken ct)
    {
        try
        {
            return await change(ct);
        }
        catch (OsseaApiException ex) when (ex.OutcomeUnknown)
        {
            var now = await SettledAsync(client, vmId, ct);
            if (done(now))
            {
                return now;
            }
        }
        try
        {
            return await change(ct);
        }
        catch (OsseaApiException)
        {
            var again = await SettledAsync(client, vmId, ct);
            if (done(again))
            {
                return again;
            }
            throw;
        }
    }

    /// <summary>The VM once it is no longer in a transitional state, polled like a job (same intervals and deadline).</summary>
    private async Task<OsseaVirtualMachine?> SettledAsync(IOsseaClient client, string vmId, CancellationToken ct)
    {
        var o = options.Value;
        var started = time.GetTimestamp();
        var delay = o.JobPollInitial;
        while (true)
        {
            var vm = await client.GetVirtualMachineAsync(vmId, ct);
            if (vm is null || !OsseaVmStates.IsTransitional(vm.State) || time.GetElapsedTime(started) >= o.JobTimeout)
            {
                return vm;
            }
            await Task.Delay(delay, time, ct);
            delay = delay + o.JobPollIncrement < o.JobPollMax ? delay + o.JobPollIncrement : o.JobPollMax;
        }
    }
}
