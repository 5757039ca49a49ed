namespace MigrateKit.Modules.Vma.Streaming;

/// <summary>POST /api/v1/syncs: copy these disks of <see cref="Vm"/> as frozen in <see cref="SnapshotId"/>.</summary>
internal sealed record StartSyncRequest(
    string? JobId,
    /// <summary>Moref (<c>vm-42</c>) or inventory path (<c>/DC0/vm/web01</c>).</summary>
    string? Vm,
    /// <summary>The snapshot moref value (<c>snapshot-77</c>) returned by POST …/snapshots.</summary>
    string? SnapshotId,
    IReadOnlyList<SyncDiskRequest>? Disks,
    /// <summary>Bytes per second for the whole sync; null or 0 = unlimited.</summary>
    long? BandwidthLimitBytesPerSecond);

internal sealed record SyncDiskRequest(
    int DeviceKey,
    /// <summary>The OMA NBD export of the target volume.</summary>
    string? ExportName,
    /// <summary><c>*</c> for a full copy, otherwise the change id of the previous sync.</summary>
    string? ChangeId,
    /// <summary>Resume point: areas below it are skipped (the last checkpoint).</summary>
    long StartOffset,
    /// <summary>Copied in addition to vCenter's areas (e.g. ranges a verification found different); may be absent.</summary>
    IReadOnlyList<ByteRangeRequest>? ExtraRanges = null);

internal sealed record ByteRangeRequest(long Offset, long Length);

internal static class SyncStates
{
    public const string Queued = "queued";
    public const string Querying = "querying";
    public const string Copying = "copying";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    /// <summary>vCenter rejected the change id: CBT was reset, the OMA must fall back to a full copy ("*").</summary>
    public const string CbtReset = "cbt-reset";

    public static bool IsFinal(string state) => state is Completed or Failed or Cancelled or CbtReset;
}

/// <summary>GET /api/v1/progress/{jobId}.</summary>
internal sealed record SyncProgressView(
    string JobId,
    string Vm,
    string SnapshotId,
    string State,
    DateTimeOffset StartedAt,
    DateTimeOffset? EndedAt,
    long BytesTotal,
    long BytesDone,
    double Percent,
    double RateBytesPerSecond,
    double? EtaSeconds,
    long? BandwidthLimitBytesPerSecond,
    string? Error,
    IReadOnlyList<DiskProgressView> Disks);

internal sealed record DiskProgressView(
    int DeviceKey,
    string ExportName,
    string State,
    /// <summary>The change id this sync is based on (<c>*</c> for a full copy).</summary>
    string BaseChangeId,
    /// <summary>The disk's change id in the snapshot: what the OMA stores when the disk completes.</summary>
    string? NewChangeId,
    long CapacityBytes,
    long StartOffset,
    long BytesTotal,
    long BytesDone,
    long DataBytesSent,
    long ZeroBytesSent,
    int ExtentsTotal,
    int ExtentsDone,
    long WriteRequests,
    long ZeroRequests,
    double Percent,
    double RateBytesPerSecond,
    double? EtaSeconds,
    /// <summary>Everything that had to be copied below this offset is flushed on the target.</summary>
    long Checkpoint,
    string? Error);

/// <summary>Live counters of one disk; written by the copier, read by GET /progress.</summary>
internal sealed class DiskProgress(SyncDiskRequest request, TimeProvider time)
{
    private readonly object _sync = new();
    private long _bytesDone;
    private long _dataBytes;
    private long _zeroBytes;
    private long _writes;
    private long _zeroWrites;
    private int _extentsDone;
    private long _checkpoint = request.StartOffset;
    private long _copyStarted;
    private long _copyEnded;

    public SyncDiskRequest Request { get; } = request;
    public string State { get; private set; } = SyncStates.Queued;
    public string? Error { get; private set; }
    public string? NewChangeId { get; set; }
    public long CapacityBytes { get; set; }
    public long BytesTotal { get; private set; }
    public int ExtentsTotal { get; private set; }

    public long DataBytesSent => Interlocked.Read(ref _dataBytes);
    public long ZeroBytesSent => Interlocked.Read(ref _zeroBytes);
    public long Checkpoint => Interlocked.Read(ref _checkpoint);

    public void SetState(string state, string? error = null)
    {
        lock (_sync)
        {
            State = state;
            Error = error;
            if (SyncStates.IsFinal(state) && _copyEnded == 0)
            {
                _copyEnded = time.GetTimestamp(); // the rate freezes at the end
            }
        }
    }

    public void Planned(long bytes, int extents)
    {
        BytesTotal = bytes;
        ExtentsTotal = extents;
        _copyStarted = time.GetTimestamp();
    }

    public void AddData(long bytes)
    {
        Interlocked.Add(ref _dataBytes, bytes);
        Interlocked.Add(ref _bytesDone, bytes);
        Interlocked.Increment(ref _writes);
    }

    public void AddZero(long bytes)
    {
        Interlocked.Add(ref _zeroBytes, bytes);
        Interlocked.Add(ref _bytesDone, bytes);
        Interlocked.Increment(ref _zeroWrites);
    }

    public void ExtentDone() => Interlocked.Increment(ref _extentsDone);

    /// <summary>Checkpoints only move forward.</summary>
    public void AdvanceCheckpoint(long offset)
    {
        long current;
        do
        {
            current = Interlocked.Read(ref _checkpoint);
            if (offset <= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _checkpoint, offset, current) != current);
    }

    public DiskProgressView View()
    {
        lock (_sync)
        {
            var done = Interlocked.Read(ref _bytesDone);
            var elapsed = _copyStarted == 0 ? TimeSpan.Zero
                : _copyEnded != 0 ? time.GetElapsedTime(_copyStarted, _copyEnded) : time.GetElapsedTime(_copyStarted);
            var rate = elapsed.TotalSeconds > 0.05 ? done / elapsed.TotalSeconds : 0;
            double? eta = SyncStates.IsFinal(State) ? 0 : rate > 0 ? Math.Max(0, (BytesTotal - done) / rate) : null;
            var percent = BytesTotal > 0 ? Math.Round(100.0 * done / BytesTotal, 2) : State == SyncStates.Completed ? 100 : 0;
            return new DiskProgressView(Request.DeviceKey, Request.ExportName ?? "", State, Request.ChangeId ?? "", NewChangeId,
                CapacityBytes, Request.StartOffset, BytesTotal, done, DataBytesSent, ZeroBytesSent, ExtentsTotal,
                Volatile.Read(ref _extentsDone), Interlocked.Read(ref _writes), Interlocked.Read(ref _zeroWrites),
                percent, Math.Round(rate, 1), eta is null ? null : Math.Round(eta.Value, 1), Checkpoint, Error);
        }
    }
}
