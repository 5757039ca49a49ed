using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using MigrateKit.Modules.Core.Api;
using MigrateKit.Modules.Vma.Agent;
using MigrateKit.Modules.Vma.Streaming;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.VmaContracts;

namespace MigrateKit.Modules.Vma.Api;

/// <summary>
/// The VMA API (old names kept: /api/v1/health, /progress/{jobId}, /vms/{vmPath}/cbt-status, …).
/// {vmPath} is a moref (vm-42) or a URL-encoded inventory path (%2FDC0%2Fvm%2Fweb01).
/// No authentication, on purpose and only because of where it is reachable: Kestrel binds
/// 127.0.0.1 (local diagnostics), and the OMA reaches it solely through the mutually
/// authenticated TLS tunnel (service "vma-api"). Never bind it to another address.
/// </summary>
internal static class VmaEndpoints
{
    public static RouteGroupBuilder MapVmaApi(IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api/v1").WithTags("VMA");
        g.MapGet("/health", Health);
        g.MapGet("/vms", ListVms);
        g.MapGet("/vms/{vmPath}", GetVm);
        g.MapGet("/vms/{vmPath}/cbt-status", CbtStatus);
        g.MapPost("/vms/{vmPath}/enable-cbt", EnableCbt);
        g.MapPost("/vms/{vmPath}/snapshots", CreateSnapshot);
        g.MapDelete("/vms/{vmPath}/snapshots/{snapshotId}", DeleteSnapshot);
        g.MapPost("/vms/{vmPath}/snapshots/{snapshotId}/disks/{deviceKey:int}/hashes", HashDisk);
        g.MapPost("/vms/{vmPath}/power-off", PowerOff);
        g.MapPost("/vms/{vmPath}/shutdown", Shutdown);
        g.MapPost("/syncs", StartSync);
        g.MapGet("/syncs", ListSyncs);
        g.MapGet("/progress/{jobId}", Progress);
        g.MapPost("/syncs/{jobId}/cancel", CancelSync);
        return g;
    }

    private static async Task<IResult> Health(VCenter vcenter, VmaTunnel tunnel, CancellationToken ct)
    {
        VmaVCenterHealth vc;
        try
        {
            var client = vcenter.Client;
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                await client.KeepAliveAsync(limit.Token).ConfigureAwait(false);
                vc = new VmaVCenterHealth(true, true, client.Options.Address, null);
            }
            catch (Exception e) when (e is VSphereException or OperationCanceledException or HttpRequestException or IOException)
            {
                vc = new VmaVCenterHealth(true, false, client.Options.Address, e is OperationCanceledException ? "timed out" : e.Message);
            }
        }
        catch (VCenterNotConfiguredException e)
        {
            vc = new VmaVCenterHealth(false, false, null, e.Message);
        }
        var tunnelView = new VmaTunnelHealth(tunnel.State, tunnel.Connections, tunnel.LastError);
        var ok = vc.Reachable && tunnel.State == "connected";
        // 503 when degraded (as the OMA's health): monitors see it, callers still get the details.
        return Results.Json(new VmaHealth(ok ? "ok" : "degraded", ProductVersion.Current, vc, tunnelView), statusCode: ok ? 200 : 503);
    }

    private static Task<IResult> ListVms(VCenter vcenter, CancellationToken ct) => Guard(async () =>
    {
        var vms = await vcenter.Client.DiscoverVmsAsync(ct).ConfigureAwait(false);
        return TypedResults.Ok(vms.Select(VmaApiMapping.Summary).ToList());
    });

    private static Task<IResult> GetVm(string vmPath, VCenter vcenter, CancellationToken ct) => Guard(async () =>
    {
        var vm = await vcenter.ResolveVmAsync(vmPath, ct).ConfigureAwait(false);
        return TypedResults.Ok(VmaApiMapping.Spec(await vcenter.Client.GetVmAsync(vm, ct).ConfigureAwait(false)));
    });

    private static Task<IResult> CbtStatus(string vmPath, VCenter vcenter, CancellationToken ct) => Guard(async () =>
    {
        var vm = await vcenter.ResolveVmAsync(vmPath, ct).ConfigureAwait(false);
        var s = await vcenter.Client.GetCbtStatusAsync(vm, ct).ConfigureAwait(false);
        return TypedResults.Ok(new VmaCbtStatus(vm.Value, s.Enabled, s.Supported, s.Reason, s.HardwareVersion));
    });

    private static Task<IResult> EnableCbt(string vmPath, VCenter vcenter, CancellationToken ct) => Guard(async () =>
    {
        var vm = await vcenter.ResolveVmAsync(vmPath, ct).ConfigureAwait(false);
        var s = await vcenter.Client.EnableCbtAsync(vm, ct).ConfigureAwait(false);
        return TypedResults.Ok(new VmaCbtStatus(vm.Value, s.Enabled, s.Supported, s.Reason, s.HardwareVersion));
    });

    private static Task<IResult> CreateSnapshot(string vmPath, VmaCreateSnapshotRequest? body, VCenter vcenter, TimeProvider time, CancellationToken ct) => Guard(async () =>
    {
        if (body?.Name is { } n && (n.Length > 80 || n.Trim().Length == 0))
        {
            return Invalid("name", "1-80 characters");
        }
        var vm = await vcenter.ResolveVmAsync(vmPath, ct).ConfigureAwait(false);
        var name = body?.Name ?? $"migratekit-{time.GetUtcNow():yyyyMMdd-HHmmss}";
        var snapshot = await vcenter.Client.CreateSnapshotAsync(vm, name, body?.Description ?? "MigrateKit replication", body?.Quiesce ?? false, ct)
            .ConfigureAwait(false);
        var disks = await vcenter.Client.GetSnapshotDisksAsync(snapshot, ct).ConfigureAwait(false);
        return TypedResults.Created($"/api/v1/vms/{vm.Value}/snapshots/{snapshot.Value}", new VmaSnapshot(vm.Value, snapshot.Value, name,
            [.. disks.Select(d => new VmaSnapshotDisk(d.DeviceKey, d.FileName, d.CapacityBytes, d.ChangeId))]));
    });

    private static Task<IResult> DeleteSnapshot(string vmPath, string snapshotId, VCenter vcenter, CancellationToken ct) => Guard(async () =>
    {
        var vm = await vcenter.ResolveVmAsync(vmPath, ct).ConfigureAwait(false);
        var snapshots = await vcenter.Client.ListSnapshotsAsync(vm, ct).ConfigureAwait(false);
        var snapshot = snapshots.FirstOrDefault(s => s.Ref.Value == snapshotId);
        if (snapshot is null)
        {
            return TypedResults.Problem(statusCode: 404, title: "Not found.", detail: $"VM {vm.Value} has no snapshot {snapshotId}");
        }
        await vcenter.Client.RemoveSnapshotAsync(snapshot.Ref, ct).ConfigureAwait(false);
        return TypedResults.NoContent();
    });

    private static Task<IResult> HashDisk(string vmPath, string snapshotId, int deviceKey, VmaHashRequest? body, VCenter vcenter,
        MigrateKit.Modules.Vma.Sources.IDiskSourceFactory sources, CancellationToken ct) =>
        Guard(() => DiskHashes.HandleAsync(vmPath, snapshotId, deviceKey, body, vcenter, sources, ct));

    private static Task<IResult> PowerOff(string vmPath, VCenter vcenter, CancellationToken ct) => Guard(async () =>
    {
        var vm = await vcenter.ResolveVmAsync(vmPath, ct).ConfigureAwait(false);
        var before = await vcenter.Client.GetPowerStateAsync(vm, ct).ConfigureAwait(false);
        if (before != "poweredOff")
        {
            await vcenter.Client.PowerOffAsync(vm, ct).ConfigureAwait(false);
        }
        var after = await vcenter.Client.GetPowerStateAsync(vm, ct).ConfigureAwait(false);
        return TypedResults.Ok(new VmaPowerResult(vm.Value, before == "poweredOff" ? "already-off" : "powered-off", after));
    });

    private static Task<IResult> Shutdown(string vmPath, int? graceSeconds, VCenter vcenter, CancellationToken ct) => Guard(async () =>
    {
        if (graceSeconds is < 0 or > 3600)
        {
            return Invalid("graceSeconds", "0-3600");
        }
        var vm = await vcenter.ResolveVmAsync(vmPath, ct).ConfigureAwait(false);
        var outcome = await vcenter.Client.ShutdownGuestAsync(vm, TimeSpan.FromSeconds(graceSeconds ?? 300), ct).ConfigureAwait(false);
        var after = await vcenter.Client.GetPowerStateAsync(vm, ct).ConfigureAwait(false);
        var text = outcome switch
        {
            ShutdownOutcome.AlreadyOff => "already-off",
            ShutdownOutcome.GuestShutdown => "guest-shutdown",
            _ => "forced-power-off",
        };
        return TypedResults.Ok(new VmaPowerResult(vm.Value, text, after));
    });

    private static IResult StartSync(VmaSyncRequest? body, SyncManager syncs)
    {
        var errors = SyncManager.Validate(body);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "One or more fields are invalid.");
        }
        try
        {
            var job = syncs.Start(body!);
            var url = $"/api/v1/progress/{Uri.EscapeDataString(job.JobId)}";
            return TypedResults.Accepted(url, new VmaSyncAccepted(job.JobId, job.State, url));
        }
        catch (SyncConflictException e)
        {
            return TypedResults.Problem(statusCode: 409, title: "Conflict.", detail: e.Message);
        }
    }

    private static IResult ListSyncs(SyncManager syncs) => TypedResults.Ok(syncs.All.Select(j => j.View()).ToList());

    private static IResult Progress(string jobId, SyncManager syncs) => syncs.Find(jobId) is { } job
        ? TypedResults.Ok(job.View())
        : TypedResults.Problem(statusCode: 404, title: "Not found.", detail: $"no sync {jobId} on this agent");

    private static IResult CancelSync(string jobId, SyncManager syncs)
    {
        if (syncs.Find(jobId) is not { } job)
        {
            return TypedResults.Problem(statusCode: 404, title: "Not found.", detail: $"no sync {jobId} on this agent");
        }
        job.Cancel();
        return TypedResults.Accepted($"/api/v1/progress/{Uri.EscapeDataString(jobId)}", job.View());
    }

    private static IResult Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "One or more fields are invalid.");

    /// <summary>vCenter errors as problem details: 404 unknown VM, 409 CBT impossible, 503 not configured, 502 vCenter failed.</summary>
    private static async Task<IResult> Guard(Func<Task<IResult>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (VmNotFoundException e)
        {
            return TypedResults.Problem(statusCode: 404, title: "Not found.", detail: e.Message);
        }
        catch (VSphereFaultException e) when (e.FaultType is "ManagedObjectNotFound")
        {
            return TypedResults.Problem(statusCode: 404, title: "Not found.", detail: e.Message);
        }
        catch (CbtUnsupportedException e)
        {
            return TypedResults.Problem(statusCode: 409, title: "CBT cannot be enabled.", detail: e.Reason);
        }
        catch (VCenterNotConfiguredException e)
        {
            return TypedResults.Problem(statusCode: 503, title: "vCenter is not configured.", detail: e.Message);
        }
        catch (VSphereException e)
        {
            return TypedResults.Problem(statusCode: 502, title: "vCenter failed.", detail: e.Message);
        }
    }
}
