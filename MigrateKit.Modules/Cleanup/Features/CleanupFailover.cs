using MediatR;
using MigrateKit.Modules.Cleanup.Contracts;
using MigrateKit.Modules.Cleanup.Workers;
using MigrateKit.Modules.Failover.Contracts;

namespace MigrateKit.Modules.Cleanup.Features;

internal static class CleanupFailover
{
    /// <summary>Claims the failover for cleanup (the Failover module decides what may be cleaned up); the worker does the rest.</summary>
    internal sealed class Handler(IMediator mediator, CleanupSignal signal) : IRequestHandler<CleanupFailoverCommand, FailoverView>
    {
        public async Task<FailoverView> Handle(CleanupFailoverCommand c, CancellationToken cancellationToken)
        {
            var view = await mediator.Send(new BeginFailoverCleanupCommand(c.FailoverId), cancellationToken);
            signal.Pulse();
            return view;
        }
    }
}
