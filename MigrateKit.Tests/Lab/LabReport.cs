using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace MigrateKit.Lab;

/// <summary>What a step did, for its summary line: a sentence, and the bytes it sent if it copied data.</summary>
internal sealed record StepOutcome(string Detail, long? BytesSent = null);

internal sealed record StepRecord(string Name, bool Ok, TimeSpan Duration, long? BytesSent, string Detail);

/// <summary>A failed step: its name and the cause, for the final message.</summary>
internal sealed class LabStepFailedException(string step, Exception cause) : Exception($"{step}: {cause.Message}", cause)
{
    public string Step { get; } = step;
}

/// <summary>
/// The lab's console: a heading and a one-line result per step ("ok   step: …" / "FAIL step: …"),
/// progress bars while data moves, and a summary table (bytes sent, time, rate) at the end.
/// </summary>
internal sealed class LabReport
{
    private readonly List<StepRecord> _steps = [];

    public IReadOnlyList<StepRecord> Steps => _steps;

    public async Task StepAsync(string name, Func<CancellationToken, Task<StepOutcome>> run, CancellationToken ct)
    {
        AnsiConsole.MarkupLine($"[bold blue]>> {Markup.Escape(name)}[/]");
        var clock = Stopwatch.StartNew();
        StepOutcome outcome;
        try
        {
            outcome = await run(ct);
        }
        catch (Exception ex)
        {
            var reason = ct.IsCancellationRequested && ex is OperationCanceledException ? "interrupted" : ex.Message;
            _steps.Add(new StepRecord(name, false, clock.Elapsed, null, reason));
            AnsiConsole.MarkupLine($"[red]FAIL {Markup.Escape(name)}:[/] {Markup.Escape(reason)}");
            throw new LabStepFailedException(name, ex);
        }
        var record = new StepRecord(name, true, clock.Elapsed, outcome.BytesSent, outcome.Detail);
        _steps.Add(record);
        var transfer = outcome.BytesSent is long bytes ? $" [{Bytes(bytes)} sent in {Seconds(record.Duration)}, {Rate(bytes, record.Duration)}]" : $" [{Seconds(record.Duration)}]";
        AnsiConsole.MarkupLine($"[green]ok[/]   {Markup.Escape(name)}: {Markup.Escape(outcome.Detail)}{Markup.Escape(transfer)}");
    }

    /// <summary>
    /// Follows a replication sync until the job is idle again after <paramref name="after"/>: on a terminal a bar per
    /// disk and one for the job; in captured output (CI, the Lab test) a line each time its operation changes.
    /// </summary>
    public static async Task<JsonElement> TrackReplicationAsync(LabApi api, Guid id, DateTime? after, TimeSpan timeout, CancellationToken ct)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            string? shown = null;
            return await PollReplicationAsync(api, id, after, timeout, job =>
            {
                var line = $"{job.Str("status")}: {job.Str("currentOperation") ?? "-"}";
                if (line != shown)
                {
                    AnsiConsole.MarkupLine($"     [grey]{Markup.Escape(line)}[/]");
                    shown = line;
                }
            }, ct);
        }
        JsonElement last = default;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var bars = new Dictionary<string, ProgressTask>();
                var total = ctx.AddTask("replication", maxValue: 100);
                last = await PollReplicationAsync(api, id, after, timeout, job =>
                {
                    foreach (var disk in job.Items("disks"))
                    {
                        var key = disk.Str("diskId") ?? "?";
                        if (!bars.TryGetValue(key, out var bar))
                        {
                            bar = bars[key] = ctx.AddTask(Markup.Escape($"  disk {key} ({disk.Str("label") ?? "disk"})"), maxValue: 100);
                        }
                        bar.Value = (double)disk.Dec("syncProgressPercent");
                    }
                    total.Value = (double)job.Dec("progressPercent");
                    total.Description = Markup.Escape(
                        $"replication: {job.Str("status")}, {job.Str("currentOperation") ?? "-"}, {Bytes(job.Long("bytesTransferred"))} of {Bytes(job.Long("totalBytes"))}, {Bytes(job.Long("transferSpeedBps"))}/s");
                }, ct);
                foreach (var bar in bars.Values.Append(total))
                {
                    bar.Value = 100;
                }
            });
        return last;
    }

    private static async Task<JsonElement> PollReplicationAsync(LabApi api, Guid id, DateTime? after, TimeSpan timeout, Action<JsonElement> show, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var job = await api.GetAsync($"api/v1/replications/{id}", ct);
            show(job);
            var status = job.Str("status");
            var done = job.Time("lastSyncCompletedAt");
            if (status == "idle" && done is not null && (after is null || done > after))
            {
                return job;
            }
            if (status is "failed" or "cancelled")
            {
                throw new LabException($"the replication {status}: {job.Str("errorMessage")}");
            }
            if (clock.Elapsed > timeout)
            {
                throw new LabException($"the replication did not finish within {Seconds(timeout)} (status {status}, {job.Str("currentOperation")})");
            }
            await Task.Delay(250, ct);
        }
    }

    /// <summary>Follows a failover until it reaches one of <paramref name="ends"/>, printing each step it goes through (with a spinner on a terminal).</summary>
    public static async Task<JsonElement> TrackFailoverAsync(LabApi api, string id, string[] ends, string[] failures, TimeSpan timeout, CancellationToken ct)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            return await PollFailoverAsync(api, id, ends, failures, timeout, _ => { }, ct);
        }
        JsonElement last = default;
        await AnsiConsole.Status().StartAsync("failover", async ctx =>
            last = await PollFailoverAsync(api, id, ends, failures, timeout, line => ctx.Status(Markup.Escape(line)), ct));
        return last;
    }

    private static async Task<JsonElement> PollFailoverAsync(LabApi api, string id, string[] ends, string[] failures, TimeSpan timeout,
        Action<string> status, CancellationToken ct)
    {
        string? shown = null;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var failover = await api.GetAsync($"api/v1/failovers/{id}", ct);
            var state = failover.Str("status") ?? "?";
            var step = failover.Str("currentStep");
            var line = $"{state}{(step is null ? "" : ": " + step)}";
            if (line != shown)
            {
                AnsiConsole.MarkupLine($"     [grey]{Markup.Escape(line)}[/]");
                status(line);
                shown = line;
            }
            if (ends.Contains(state))
            {
                return failover;
            }
            if (failures.Contains(state))
            {
                throw new LabException($"the failover ended '{state}': {failover.Str("errorMessage")}");
            }
            if (clock.Elapsed > timeout)
            {
                throw new LabException($"the failover did not finish within {Seconds(timeout)} (status {line})");
            }
            await Task.Delay(250, ct);
        }
    }

    public void PrintSummary(bool ok, TimeSpan total)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(ok ? "[green]MigrateKit lab: the story end to end[/]" : "[red]MigrateKit lab: failed[/]");
        table.AddColumn("step");
        table.AddColumn("result");
        table.AddColumn(new TableColumn("bytes sent").RightAligned());
        table.AddColumn(new TableColumn("time").RightAligned());
        table.AddColumn(new TableColumn("rate").RightAligned());
        foreach (var step in _steps)
        {
            table.AddRow(
                Markup.Escape(step.Name),
                step.Ok ? "[green]ok[/]" : "[red]FAIL[/]",
                step.BytesSent is long b ? Bytes(b) : "",
                Seconds(step.Duration),
                step.BytesSent is long r ? Rate(r, step.Duration) : "");
        }
        AnsiConsole.Write(table);
        var sent = _steps.Sum(s => s.BytesSent ?? 0);
        AnsiConsole.MarkupLine(ok
            ? $"[green]lab passed:[/] {_steps.Count} steps in {Seconds(total)}, {Bytes(sent)} replicated"
            : $"[red]lab failed[/] after {_steps.Count(s => s.Ok)} of {_steps.Count} steps ({Seconds(total)})");
    }

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    public static string Seconds(TimeSpan time) => time.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    public static string Rate(long bytes, TimeSpan time) => time.TotalSeconds > 0 ? Bytes((long)(bytes / time.TotalSeconds)) + "/s" : "";
}
