using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Vma.Agent;
using MigrateKit.Modules.Vma.Sources;
using MigrateKit.Modules.VmaContracts;

namespace MigrateKit.Modules.Vma.Streaming;

/// <summary>A sync with this job id is still running.</summary>
internal sealed class SyncConflictException(string message) : Exception(message);

/// <summary>
/// Starts, tracks and cancels syncs. Each runs in the background (never in the HTTP request);
/// finished ones stay queryable until <see cref="StreamingOptions.RetainedSyncs"/> newer ones ended.
/// The OMA persists progress and checkpoints itself, so an agent restart loses only live state.
/// </summary>
internal sealed class SyncManager(VCenter vcenter, IDiskSourceFactory sources, IExportConnector targets,
    VmaOptions options, TimeProvider time, ILoggerFactory loggers) : IHostedService
{
    private readonly ConcurrentDictionary<string, SyncJob> _jobs = new(StringComparer.Ordinal);
    private readonly object _startLock = new();
    private readonly ILogger _logger = loggers.CreateLogger<SyncManager>();

    /// <summary>Field errors of a start request (empty when valid).</summary>
    internal const int MaxExtraRanges = 100_000;

    public static Dictionary<string, string[]> Validate(VmaSyncRequest? request)
    {
        var errors = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Add(string field, string message)
        {
            if (!errors.TryGetValue(field, out var list))
            {
                errors[field] = list = [];
            }
            list.Add(message);
        }
        if (request is null)
        {
            Add("body", "a JSON body is required");
            return errors.ToDictionary(e => e.Key, e => e.Value.ToArray());
        }
        if (string.IsNullOrWhiteSpace(request.JobId) || request.JobId.Length > 128 || request.JobId.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            Add("jobId", "required: 1-128 characters of letters, digits, '-', '_' or '.'");
        }
        if (string.IsNullOrWhiteSpace(request.Vm))
        {
            Add("vm", "required: a VM moref (vm-42) or inventory path");
        }
        if (string.IsNullOrWhiteSpace(request.SnapshotId) || request.SnapshotId.Contains(':', StringComparison.Ordinal))
        {
            Add("snapshotId", "required: the snapshot moref value (e.g. snapshot-77)");
        }
        if (request.BandwidthLimitBytesPerSecond is < 0)
        {
            Add("bandwidthLimitBytesPerSecond", "must be positive (or 0/absent for no limit)");
        }
        if (request.Disks is not { Count: > 0 } disks)
        {
            Add("disks", "at least one disk is required");
            return errors.ToDictionary(e => e.Key, e => e.Value.ToArray());
        }
        for (var i = 0; i < disks.Count; i++)
        {
            var d = disks[i];
            if (d is null)
            {
                Add($"disks[{i}]", "must be an object");
                continue;
            }
            if (d.DeviceKey <= 0)
            {
                Add($"disks[{i}].deviceKey", "required: the disk's device key (e.g. 2000)");
            }
            if (string.IsNullOrWhiteSpace(d.ExportName) || d.ExportName.Length > 4096)
            {
                Add($"disks[{i}].exportName", "required: the OMA NBD export to write into");
            }
            if (string.IsNullOrWhiteSpace(d.ChangeId))
            {
                Add($"disks[{i}].changeId", "required: '*' for a full copy or the previous change id");
            }
            if (d.StartOffset < 0)
            {
                Add($"disks[{i}].startOffset", "must not be negative");
            }
            if (d.ExtraRanges is { } extra && (extra.Count > MaxExtraRanges || extra.Any(r => r is null || r.Offset < 0 || r.Length <= 0 || r.Offset > long.MaxValue - r.Length)))
            {
                Add($"disks[{i}].extraRanges", $"at most {MaxExtraRanges} ranges, each with offset >= 0 and length > 0");
            }
        }
        foreach (var dup in disks.Where(d => d is not null).GroupBy(d => d.DeviceKey).Where(g => g.Count() > 1))
        {
            Add("disks", $"device key {dup.Key} is listed twice");
        }
        foreach (var dup in disks.Where(d => d?.ExportName is not null).GroupBy(d => d.ExportName).Where(g => g.Count() > 1))
        {
            Add("disks", $"export '{dup.Key}' is listed twice");
        }
        return errors.ToDictionary(e => e.Key, e => e.Value.ToArray());
    }

    /// <summary>Starts a validated request. A job id still running is a conflict; a finished one is replaced (a retry).</summary>
    public SyncJob Start(VmaSyncRequest request)
    {
        lock (_startLock)
        {
            if (_jobs.TryGetValue(request.JobId!, out var existing) && !VmaSyncStates.IsFinal(existing.State))
            {
                throw new SyncConflictException($"sync {request.JobId} is still {existing.State}");
            }
            var job = new SyncJob(request, vcenter, sources, targets, options.Streaming, time, _logger);
            _jobs[request.JobId!] = job;
            job.Start();
            Prune();
            return job;
        }
    }

    public SyncJob? Find(string jobId) => _jobs.GetValueOrDefault(jobId);

    public IReadOnlyList<SyncJob> All => [.. _jobs.Values.OrderBy(j => j.StartedAt)];

    private void Prune()
    {
        var finished = _jobs.Values.Where(j => VmaSyncStates.IsFinal(j.State)).OrderBy(j => j.StartedAt).ToList();
        foreach (var old in finished.Take(Math.Max(0, finished.Count - options.Streaming.RetainedSyncs)))
        {
            _jobs.TryRemove(old.JobId, out _);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Shutting down cancels running syncs; the OMA resumes them from their checkpoints.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var running = _jobs.Values.Where(j => !VmaSyncStates.IsFinal(j.State)).ToList();
        foreach (var job in running)
        {
            job.Cancel();
        }
        try
        {
            await Task.WhenAll(running.Select(j => j.Completion)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Shutdown timeout: the processes go with us.
        }
    }
}
