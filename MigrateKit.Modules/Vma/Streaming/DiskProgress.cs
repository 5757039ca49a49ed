using MigrateKit.Modules.VmaContracts;

namespace MigrateKit.Modules.Vma.Streaming;

/// <summary>Live counters of one disk; written by the copier, read by GET /progress.</summary>
internal sealed class DiskProgress(VmaSyncDisk request, TimeProvider time)
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

    public VmaSyncDisk Request { get; } = request;
    public string State { get; private set; } = VmaSyncStates.Queued;
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
            if (VmaSyncStates.IsFinal(state) && _copyEnded == 0)
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

    public VmaDiskProgress View()
    {
        lock (_sync)
        {
            var done = Interlocked.Read(ref _bytesDone);
            var elapsed = _copyStarted == 0 ? TimeSpan.Zero
                : _copyEnded != 0 ? time.GetElapsedTime(_copyStarted, _copyEnded) : time.GetElapsedTime(_copyStarted);
            var rate = elapsed.TotalSeconds > 0.05 ? done / elapsed.TotalSeconds : 0;
            double? eta = VmaSyncStates.IsFinal(State) ? 0 : rate > 0 ? Math.Max(0, (BytesTotal - done) / rate) : null;
            var percent = BytesTotal > 0 ? Math.Round(100.0 * done / BytesTotal, 2) : State == VmaSyncStates.Completed ? 100 : 0;
            return new VmaDiskProgress(Request.DeviceKey, Request.ExportName ?? "", State, Request.ChangeId ?? "", NewChangeId,
                CapacityBytes, Request.StartOffset, BytesTotal, done, DataBytesSent, ZeroBytesSent, ExtentsTotal,
                Volatile.Read(ref _extentsDone), Interlocked.Read(ref _writes), Interlocked.Read(ref _zeroWrites),
                percent, Math.Round(rate, 1), eta is null ? null : Math.Round(eta.Value, 1), Checkpoint, Error);
        }
    }
}
