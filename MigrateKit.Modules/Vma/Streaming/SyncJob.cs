using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Vma.Agent;
using MigrateKit.Modules.Vma.Sources;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.VmaContracts;

namespace MigrateKit.Modules.Vma.Streaming;

/// <summary>
/// One sync: for each disk, the areas to copy from vCenter (change id <c>*</c> = allocated areas,
/// otherwise the areas changed since that id, in the given snapshot), then the copy from the
/// source reader into the OMA export. Disks run in parallel (up to MaxParallelDisks); one disk
/// failing does not stop the others. A rejected change id ends that disk as <c>cbt-reset</c>.
/// </summary>
internal sealed class SyncJob
{
    private readonly VmaSyncRequest _request;
    private readonly VCenter _vcenter;
    private readonly IDiskSourceFactory _sources;
    private readonly IExportConnector _targets;
    private readonly StreamingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _cancel = new();
    private readonly TokenBucket? _bucket;
    private readonly object _sync = new();
    private string _state = VmaSyncStates.Queued;
    private string? _error;
    private DateTimeOffset? _endedAt;

    public SyncJob(VmaSyncRequest request, VCenter vcenter, IDiskSourceFactory sources, IExportConnector targets,
        StreamingOptions options, TimeProvider time, ILogger logger)
    {
        _request = request;
        _vcenter = vcenter;
        _sources = sources;
        _targets = targets;
        _options = options;
        _time = time;
        _logger = logger;
        Disks = [.. request.Disks!.Select(d => new DiskProgress(d, time))];
        StartedAt = time.GetUtcNow();
        if (request.BandwidthLimitBytesPerSecond is > 0 and var limit)
        {
            _bucket = new TokenBucket(limit, time);
        }
    }

    public string JobId => _request.JobId!;

    public IReadOnlyList<DiskProgress> Disks { get; }

    public DateTimeOffset StartedAt { get; }

    public Task Completion { get; private set; } = Task.CompletedTask;

    public string State
    {
        get
        {
            lock (_sync)
            {
                return _state;
            }
        }
    }

    public void Start() => Completion = Task.Run(RunAsync);

    public void Cancel() => _cancel.Cancel();

    private async Task RunAsync()
    {
        var ct = _cancel.Token;
        SetState(VmaSyncStates.Running, null);
        VmaLog.SyncStarted(_logger, JobId, _request.Vm!, _request.SnapshotId!, Disks.Count, _bucket?.BytesPerSecond ?? 0);
        try
        {
            var vm = await _vcenter.ResolveVmAsync(_request.Vm!, ct).ConfigureAwait(false);
            var client = _vcenter.Client;
            var info = await client.GetVmAsync(vm, ct).ConfigureAwait(false);
            var snapshot = new MoRef("VirtualMachineSnapshot", _request.SnapshotId!);
            var snapshotDisks = await client.GetSnapshotDisksAsync(snapshot, ct).ConfigureAwait(false);
            using var parallel = new SemaphoreSlim(_options.MaxParallelDisks, _options.MaxParallelDisks);
            await Task.WhenAll(Disks.Select(async disk =>
            {
                await parallel.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    await RunDiskAsync(disk, vm, info.Name, snapshot, snapshotDisks, ct).ConfigureAwait(false);
                }
                finally
                {
                    parallel.Release();
                }
            })).ConfigureAwait(false);
            var states = Disks.Select(d => d.State).ToList();
            var final = states.Contains(VmaSyncStates.Failed) ? VmaSyncStates.Failed
                : states.Contains(VmaSyncStates.Cancelled) ? VmaSyncStates.Cancelled
                : states.Contains(VmaSyncStates.CbtReset) ? VmaSyncStates.CbtReset
                : VmaSyncStates.Completed;
            var error = Disks.FirstOrDefault(d => d.Error is not null) is { } bad ? $"disk {bad.Request.DeviceKey}: {bad.Error}" : null;
            SetState(final, error);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            EndUnstartedDisks(VmaSyncStates.Cancelled, "cancelled");
            SetState(VmaSyncStates.Cancelled, "cancelled");
        }
        catch (Exception e) when (e is VSphereException or VmNotFoundException or VCenterNotConfiguredException)
        {
            EndUnstartedDisks(VmaSyncStates.Failed, e.Message);
            SetState(VmaSyncStates.Failed, e.Message);
        }
        catch (Exception e)
        {
            // Never crash the agent: an unexpected error ends this sync with its message.
            EndUnstartedDisks(VmaSyncStates.Failed, e.Message);
            SetState(VmaSyncStates.Failed, $"{e.GetType().Name}: {e.Message}");
        }
        VmaLog.SyncEnded(_logger, JobId, State, Disks.Sum(d => d.View().BytesDone), (_time.GetUtcNow() - StartedAt).TotalSeconds);
    }

    private async Task RunDiskAsync(DiskProgress disk, MoRef vm, string vmName, MoRef snapshot,
        IReadOnlyList<SnapshotDisk> snapshotDisks, CancellationToken ct)
    {
        var request = disk.Request;
        try
        {
            var frozen = snapshotDisks.FirstOrDefault(d => d.DeviceKey == request.DeviceKey)
                ?? throw new DiskSourceException($"snapshot {snapshot.Value} has no disk with device key {request.DeviceKey}");
            disk.NewChangeId = frozen.ChangeId;
            disk.CapacityBytes = frozen.CapacityBytes;
            disk.SetState(VmaSyncStates.Querying);
            var areas = await _vcenter.Client.QueryAllChangedAreasAsync(vm, snapshot, request.DeviceKey, frozen.CapacityBytes, request.ChangeId!, ct)
                .ConfigureAwait(false);
            await using var source = await _sources.OpenAsync(new DiskSourceRequest(vm, vmName, snapshot, request.DeviceKey, frozen.FileName), ct)
                .ConfigureAwait(false);
            if (source.Size != frozen.CapacityBytes)
            {
                VmaLog.SourceSizeMismatch(_logger, request.DeviceKey, source.Size, frozen.CapacityBytes);
            }
            var end = Math.Min(source.Size, frozen.CapacityBytes);
            var wanted = request.ExtraRanges is { Count: > 0 } extra
                ? ChangedAreaPager.Merge(areas.Extents.Concat(extra.Select(r => new DiskExtent(r.Offset, r.Length))))
                : areas.Extents;
            var extents = await DiskCopier.PlanAsync(source.Reader, wanted, request.StartOffset, end, ct).ConfigureAwait(false);
            await using var target = await ConnectTargetAsync(request.ExportName!, ct).ConfigureAwait(false);
            disk.SetState(VmaSyncStates.Copying);
            await new DiskCopier(_options, _time).CopyAsync(source.Reader, target, extents, end, disk, _bucket, ct).ConfigureAwait(false);
            await target.DisconnectAsync(ct).ConfigureAwait(false);
            disk.SetState(VmaSyncStates.Completed);
        }
        catch (ChangeIdRejectedException e)
        {
            disk.SetState(VmaSyncStates.CbtReset, e.Message);
            VmaLog.DiskFailed(_logger, JobId, request.DeviceKey, VmaSyncStates.CbtReset, e.Message);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            disk.SetState(VmaSyncStates.Cancelled, "cancelled");
        }
        catch (Exception e)
        {
            disk.SetState(VmaSyncStates.Failed, e.Message);
            VmaLog.DiskFailed(_logger, JobId, request.DeviceKey, VmaSyncStates.Failed, e.Message);
        }
    }

    /// <summary>The tunnel may be down (it reconnects by itself); waiting forever would hide that from the OMA.</summary>
    private async Task<MigrateKit.Modules.Transport.Nbd.NbdClient> ConnectTargetAsync(string exportName, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(_options.TargetConnectTimeout);
        try
        {
            return await _targets.ConnectExportAsync(exportName, limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new IOException($"could not open OMA export '{exportName}' through the tunnel within {_options.TargetConnectTimeout.TotalSeconds:0} s");
        }
    }

    private void EndUnstartedDisks(string state, string reason)
    {
        foreach (var d in Disks.Where(d => !VmaSyncStates.IsFinal(d.State)))
        {
            d.SetState(state, reason);
        }
    }

    private void SetState(string state, string? error)
    {
        lock (_sync)
        {
            _state = state;
            _error = error;
            if (VmaSyncStates.IsFinal(state))
            {
                _endedAt = _time.GetUtcNow();
            }
        }
    }

    public VmaSyncProgress View()
    {
        var disks = Disks.Select(d => d.View()).ToList();
        string state;
        string? error;
        DateTimeOffset? ended;
        lock (_sync)
        {
            (state, error, ended) = (_state, _error, _endedAt);
        }
        var total = disks.Sum(d => d.BytesTotal);
        var done = disks.Sum(d => d.BytesDone);
        var rate = disks.Sum(d => d.RateBytesPerSecond);
        double? eta = VmaSyncStates.IsFinal(state) ? 0 : rate > 0 ? Math.Round((total - done) / rate, 1) : null;
        var percent = total > 0 ? Math.Round(100.0 * done / total, 2) : state == VmaSyncStates.Completed ? 100 : 0;
        return new VmaSyncProgress(JobId, _request.Vm!, _request.SnapshotId!, state, StartedAt, ended, total, done, percent,
            Math.Round(rate, 1), eta, _bucket?.BytesPerSecond, error, disks);
    }
}
