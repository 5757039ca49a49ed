using Dapper;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Core;

[Category(TestKind.Database)]
public class JobLogTests : DatabaseTest
{
    private IJobTracker Tracker => Services.GetRequiredService<IJobTracker>();

    private static JobStart Start(string type) => new(type, $"test {type}", "tests");

    [Test]
    public async Task A_job_with_a_failing_step_ends_failed_with_the_steps_error()
    {
        Guid jobId = default;
        var thrown = Assert.ThrowsAsync<InvalidOperationException>(() => Tracker.RunJobAsync<int>(Start("test.fail"), async (job, ct) =>
        {
            jobId = job.JobId;
            await job.RunStepAsync("prepare", _ => Task.CompletedTask, ct);
            await job.RunStepAsync("copy", _ => throw new InvalidOperationException("disk 2 unreadable"), ct);
            await job.RunStepAsync("never", _ => Task.CompletedTask, ct);
            return 0;
        }, CancellationToken.None));

        var details = await SendAsync(new GetJobQuery(jobId));
        Assert.Multiple(() =>
        {
            Assert.That(thrown!.Message, Is.EqualTo("disk 2 unreadable"), "the caller sees the original exception");
            Assert.That(details!.Job.Status, Is.EqualTo("failed"));
            Assert.That(details.Job.ErrorMessage, Is.EqualTo("step 'copy' failed: disk 2 unreadable"));
            Assert.That(details.Steps.Select(s => (s.Name, s.Status)), Is.EqualTo(new[] { ("prepare", "completed"), ("copy", "failed") }));
            Assert.That(details.Steps[1].ErrorMessage, Is.EqualTo("disk 2 unreadable"));
            Assert.That(details.Job.CompletedAt, Is.Not.Null);
        });
    }

    [Test]
    public async Task A_completed_job_records_steps_log_lines_and_timings()
    {
        var jobId = await Tracker.RunJobAsync(Start("test.ok"), async (job, ct) =>
        {
            await job.InfoAsync("before any step", ct);
            await job.RunStepAsync("only", async c => await job.InfoAsync("inside the step", c), ct);
            return job.JobId;
        }, CancellationToken.None);

        var details = await SendAsync(new GetJobQuery(jobId));
        Assert.Multiple(() =>
        {
            Assert.That(details!.Job.Status, Is.EqualTo("completed"));
            Assert.That(details.Job.DurationMs, Is.GreaterThanOrEqualTo(0));
            Assert.That(details.Log.Select(l => l.Message), Is.EqualTo(new[] { "before any step", "inside the step" }));
            Assert.That(details.Log[0].StepId, Is.Null);
            Assert.That(details.Log[1].StepId, Is.EqualTo(details.Steps[0].Id));
        });
    }

    [Test]
    public async Task Correlation_and_parent_ids_flow_into_nested_jobs_and_mediator_requests()
    {
        var correlation = Guid.NewGuid();
        var (outerId, innerId) = await Tracker.RunJobAsync(Start("test.outer") with { CorrelationId = correlation }, async (outer, ct) =>
        {
            var inner = await outer.RunStepAsync("nested", c => Tracker.RunJobAsync(Start("test.inner"), (j, _) => Task.FromResult(j.JobId), c), ct);
            // A business request sent from inside the job becomes a child job through the pipeline.
            await using var scope = Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new CreateAdminTokenCommand("nested-token"), ct);
            return (outer.JobId, inner);
        }, CancellationToken.None);

        var outerDetails = await SendAsync(new GetJobQuery(outerId));
        var byCorrelation = await SendAsync(new ListJobsQuery(null, null, correlation));
        Assert.Multiple(() =>
        {
            Assert.That(outerDetails!.Children.Select(c => c.JobType), Is.EquivalentTo(new[] { "test.inner", "admin.token.create" }));
            Assert.That(outerDetails.Children.All(c => c.ParentJobId == outerId && c.CorrelationId == correlation));
            Assert.That(byCorrelation.Total, Is.EqualTo(3));
            Assert.That(byCorrelation.Items.Select(i => i.Id), Does.Contain(innerId));
        });
    }

    [Test]
    public async Task A_child_jobs_log_lines_belong_to_the_child_not_to_the_parents_step()
    {
        var childId = await Tracker.RunJobAsync(Start("test.parent"), (parent, ct) =>
            parent.RunStepAsync("spawn", c => Tracker.RunJobAsync(Start("test.child"), async (child, cc) =>
            {
                await child.InfoAsync("from the child", cc);
                return child.JobId;
            }, c), ct), CancellationToken.None);

        var child = await SendAsync(new GetJobQuery(childId));
        Assert.That(child!.Log.Single().StepId, Is.Null);
    }

    [Test]
    public async Task Jobs_cut_off_by_a_previous_process_end_failed_as_interrupted_at_start_up()
    {
        var orphan = await Tracker.StartJobAsync(Start("test.orphan"), CancellationToken.None);
        await using (var host = await OmaTestHost.StartAsync(ConnectionString))
        {
            var details = await SendAsync(new GetJobQuery(orphan.JobId));
            Assert.That((details!.Job.Status, details.Job.ErrorMessage), Is.EqualTo(("failed", MigrateKit.Modules.Core.JobLog.InterruptedJobSweep.Reason)));
        }
    }

    [Test]
    public async Task A_cancelled_job_ends_cancelled()
    {
        using var cts = new CancellationTokenSource();
        Guid jobId = default;
        Assert.CatchAsync<OperationCanceledException>(() => Tracker.RunJobAsync<int>(Start("test.cancel"), async (job, ct) =>
        {
            jobId = job.JobId;
            await cts.CancelAsync();
            ct.ThrowIfCancellationRequested();
            return 0;
        }, cts.Token));
        var details = await SendAsync(new GetJobQuery(jobId));
        Assert.That(details!.Job.Status, Is.EqualTo("cancelled"));
    }

    [Test]
    public async Task Jobs_are_listed_newest_first_filtered_and_paged()
    {
        for (var i = 0; i < 5; i++)
        {
            await Tracker.RunJobAsync(Start(i % 2 == 0 ? "test.even" : "test.odd"), (_, _) => Task.FromResult(0), CancellationToken.None);
        }
        var even = await SendAsync(new ListJobsQuery(null, "test.even", null, Page: 1, PageSize: 2));
        var second = await SendAsync(new ListJobsQuery("completed", "test.even", null, Page: 2, PageSize: 2));
        Assert.Multiple(() =>
        {
            Assert.That(even.Total, Is.EqualTo(3));
            Assert.That(even.Items, Has.Count.EqualTo(2));
            Assert.That(even.Items[0].CreatedAt, Is.GreaterThan(even.Items[1].CreatedAt));
            Assert.That(second.Items, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task A_started_job_can_be_ended_by_another_flow()
    {
        var job = await Tracker.StartJobAsync(Start("test.background"), CancellationToken.None);
        await using (var conn = await OpenAsync())
        {
            Assert.That(await conn.ExecuteScalarAsync<string>("SELECT status FROM jobs WHERE id = @id", new { id = job.JobId }), Is.EqualTo("running"));
        }
        await job.EndAsync("agent never came back", CancellationToken.None);
        await job.EndAsync(null, CancellationToken.None); // a second end changes nothing
        var details = await SendAsync(new GetJobQuery(job.JobId));
        Assert.That((details!.Job.Status, details.Job.ErrorMessage), Is.EqualTo(("failed", "agent never came back")));
    }
}
