using MediatR;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Core.JobLog;

namespace MigrateKit.Modules.Core.Mediation;

/// <summary>
/// Business operations (requests that implement <see cref="IJobRequest"/>) run inside a job of
/// the job log; a request sent from inside another job becomes its child job with the same
/// correlation id.
/// </summary>
internal sealed class JobLogBehavior<TRequest, TResponse>(IJobTracker tracker) : IPipelineBehavior<TRequest, TResponse>
{
    public Task<TResponse> Handle(TRequest request, CancellationToken cancellationToken, RequestHandlerDelegate<TResponse> next)
    {
        if (request is not IJobRequest jobRequest)
        {
            return next();
        }
        var start = jobRequest.DescribeJob();
        return tracker.RunJobAsync(start, (_, _) => next(), cancellationToken);
    }
}
