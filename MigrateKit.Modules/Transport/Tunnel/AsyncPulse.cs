namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>
/// A broadcast wake-up for credit waiters. Not thread-safe on its own: callers hold their owner's
/// lock around <see cref="GetWaitTask"/> and <see cref="Pulse"/>. Allocates only when someone waits.
/// </summary>
internal sealed class AsyncPulse
{
    private TaskCompletionSource? _waiters;

    public bool HasWaiters => _waiters is not null;

    public Task GetWaitTask() => (_waiters ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Pulse()
    {
        var waiters = _waiters;
        _waiters = null;
        waiters?.TrySetResult();
    }
}
