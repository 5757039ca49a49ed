using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Core.JobLog;

internal static class ListJobs
{
    internal sealed class Validator : AbstractValidator<ListJobsQuery>
    {
        public Validator()
        {
            RuleFor(q => q.Page).GreaterThanOrEqualTo(1);
            RuleFor(q => q.PageSize).InclusiveBetween(1, 500);
            RuleFor(q => q.Status).Must(s => s is null || JobStatuses.All.Contains(s))
                .WithMessage($"Status must be one of: {string.Join(", ", JobStatuses.All)}.");
            RuleFor(q => q.JobType).MaximumLength(64);
        }
    }

    internal sealed class Handler(JobStore store) : IRequestHandler<ListJobsQuery, JobPage>
    {
        public Task<JobPage> Handle(ListJobsQuery request, CancellationToken cancellationToken) =>
            store.ListJobsAsync(request, cancellationToken);
    }
}

internal static class GetJob
{
    internal sealed class Handler(JobStore store) : IRequestHandler<GetJobQuery, JobDetails?>
    {
        public Task<JobDetails?> Handle(GetJobQuery request, CancellationToken cancellationToken) =>
            store.GetJobAsync(request.Id, cancellationToken);
    }
}
