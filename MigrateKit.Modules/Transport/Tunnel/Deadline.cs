namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>A token cancelled by the outer token or after a timeout measured by a <see cref="TimeProvider"/>.</summary>
internal sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly ITimer _timer;

    public Deadline(TimeSpan timeout, TimeProvider time, CancellationToken outer)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(outer);
        var source = _source;
        _timer = time.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), source, timeout, Timeout.InfiniteTimeSpan);
    }

    public CancellationToken Token => _source.Token;

    public void Dispose()
    {
        _timer.Dispose();
        _source.Dispose();
    }
}
