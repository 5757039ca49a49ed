using MediatR;

namespace MigrateKit.Modules.Core.Contracts;

/// <summary>A request that is a business operation: the pipeline runs it inside a job of the job log.</summary>
public interface IJobRequest
{
    JobStart DescribeJob();
}

/// <summary>What a new job is: its type (e.g. "volume.attach"), the module that owns it, and what it acts on.</summary>
public sealed record JobStart(string JobType, string Operation, string Owner)
{
    public string? EntityType { get; init; }
    public string? EntityId { get; init; }
    /// <summary>Joins this job to an existing flow; by default it inherits the ambient job's, or starts a new one.</summary>
    public Guid? CorrelationId { get; init; }
    /// <summary>Parent job; by default the ambient job.</summary>
    public Guid? ParentJobId { get; init; }
}

public static class JobStatuses
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Running, Completed, Failed, Cancelled];
}

public enum JobLogLevel { Debug, Info, Warning, Error }

public sealed record JobSummary(
    Guid Id, Guid? ParentJobId, Guid CorrelationId, string JobType, string Operation, string Owner,
    string? EntityType, string? EntityId, string Status, string? ErrorMessage,
    DateTime CreatedAt, DateTime StartedAt, DateTime? CompletedAt, long? DurationMs);

public sealed record JobStepView(
    long Id, int Seq, string Name, string Status, string? ErrorMessage,
    DateTime StartedAt, DateTime? CompletedAt, long? DurationMs);

public sealed record JobLogEntryView(long Id, long? StepId, string Level, string Message, DateTime CreatedAt);

public sealed record JobDetails(JobSummary Job, IReadOnlyList<JobStepView> Steps, IReadOnlyList<JobLogEntryView> Log, IReadOnlyList<JobSummary> Children);

public sealed record JobPage(IReadOnlyList<JobSummary> Items, int Page, int PageSize, long Total);

/// <summary>Jobs, newest first, optionally filtered.</summary>
public sealed record ListJobsQuery(string? Status, string? JobType, Guid? CorrelationId, int Page = 1, int PageSize = 50) : IRequest<JobPage>;

/// <summary>One job with its steps, log lines and child jobs; null when there is none.</summary>
public sealed record GetJobQuery(Guid Id) : IRequest<JobDetails?>;
