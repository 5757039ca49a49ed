namespace MigrateKit.Modules.Vma.Streaming;

/// <summary>
/// A bandwidth limit shared by every disk of one sync. Takers may go into debt (a 4 MiB chunk
/// against a smaller bucket) and then wait until it is paid back, so the long-run rate holds at
/// <c>bytesPerSecond</c> with bursts of at most a quarter second's worth.
/// </summary>
internal sealed class TokenBucket
{
    private readonly double _rate;
    private readonly double _capacity;
    private readonly TimeProvider _time;
    private readonly object _sync = new();
    private double _tokens;
    private long _last;

    public TokenBucket(long bytesPerSecond, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerSecond, 1);
        _rate = bytesPerSecond;
        _capacity = Math.Max(bytesPerSecond / 4.0, 64 * 1024);
        _time = time;
        _tokens = _capacity;
        _last = time.GetTimestamp();
    }

    public long BytesPerSecond => (long)_rate;

    /// <summary>How long a taker of <paramref name="bytes"/> must wait now (and books the bytes).</summary>
    internal TimeSpan Take(long bytes)
    {
        lock (_sync)
        {
            var now = _time.GetTimestamp();
            _tokens = Math.Min(_capacity, _tokens + _time.GetElapsedTime(_last, now).TotalSeconds * _rate);
            _last = now;
            _tokens -= bytes;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _rate);
        }
    }

    public async Task AcquireAsync(long bytes, CancellationToken ct)
    {
        var wait = Take(bytes);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, _time, ct).ConfigureAwait(false);
        }
    }
}
