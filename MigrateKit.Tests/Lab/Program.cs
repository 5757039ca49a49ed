using System.Diagnostics;
using System.Runtime.InteropServices;
using MigrateKit.Lab;
using Spectre.Console;

// migratekit-lab: the whole MigrateKit story on one machine. scripts/lab builds everything, starts
// the lab's MariaDB and runs this with the paths below; the database connection string comes in
// MIGRATEKIT_LAB_DB (it holds a password: never on the command line).
const string Usage = "usage: migratekit-lab --run-dir DIR --oma PATH --vma PATH --vcsim PATH [--keep]   (database: MIGRATEKIT_LAB_DB)";

string? runDir = null, oma = null, vma = null, vcsim = null;
var keep = false;
for (var i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    try
    {
        switch (args[i])
        {
            case "--run-dir": runDir = Value(); break;
            case "--oma": oma = Value(); break;
            case "--vma": vma = Value(); break;
            case "--vcsim": vcsim = Value(); break;
            case "--keep": keep = true; break;
            case "-h" or "--help": Console.WriteLine(Usage); return 0;
            default: throw new ArgumentException($"unknown argument '{args[i]}'");
        }
    }
    catch (ArgumentException ex)
    {
        await Console.Error.WriteLineAsync($"migratekit-lab: {ex.Message}\n{Usage}");
        return 2;
    }
}
var db = Environment.GetEnvironmentVariable("MIGRATEKIT_LAB_DB");
var missing = new[] { ("--run-dir", runDir), ("--oma", oma), ("--vma", vma), ("--vcsim", vcsim), ("MIGRATEKIT_LAB_DB", db) }
    .Where(p => string.IsNullOrEmpty(p.Item2)).Select(p => p.Item1).ToList();
if (missing.Count > 0)
{
    await Console.Error.WriteLineAsync($"migratekit-lab: missing {string.Join(", ", missing)}\n{Usage}");
    return 2;
}
foreach (var binary in new[] { oma!, vma!, vcsim! }.Where(b => !File.Exists(b)))
{
    await Console.Error.WriteLineAsync($"migratekit-lab: {binary} does not exist (scripts/lab builds it)");
    return 2;
}

if (Console.IsOutputRedirected)
{
    // Captured output (the Lab test, a CI log): wide enough that summary lines do not wrap.
    AnsiConsole.Profile.Width = 240;
}

var settings = new LabSettings(Path.GetFullPath(runDir!), Path.GetFullPath(oma!), Path.GetFullPath(vma!), Path.GetFullPath(vcsim!), db!);
Directory.CreateDirectory(settings.LogDirectory);

// Ctrl-C and SIGTERM (scripts/lab --stop) end the story or the --keep wait; everything started is stopped in order.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

var report = new LabReport();
var clock = Stopwatch.StartNew();
var exitCode = 0;
await using (var env = new LabEnvironment(settings))
{
    try
    {
        await new LabStory(env, report).RunAsync(stop.Token);
        report.PrintSummary(true, clock.Elapsed);
        if (keep)
        {
            AnsiConsole.MarkupLine($"""

                [bold]Everything keeps running (--keep).[/]
                  admin API   {env.ApiAddress}   (OpenAPI: {env.ApiAddress}api/v1/openapi.json)
                  token file  {settings.TokenFile}
                  try         curl -H "Authorization: Bearer $(cat {settings.TokenFile})" {env.ApiAddress}api/v1/replications
                  logs        {settings.LogDirectory}
                  stop        press Ctrl-C here, or run scripts/lab --stop from another shell
                """);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
                AnsiConsole.MarkupLine("stopping the lab");
            }
        }
    }
    catch (LabStepFailedException failure)
    {
        report.PrintSummary(false, clock.Elapsed);
        exitCode = stop.IsCancellationRequested ? 130 : 1;
        if (stop.IsCancellationRequested)
        {
            AnsiConsole.MarkupLine($"[yellow]interrupted[/] during '{Markup.Escape(failure.Step)}'; everything the lab started is being stopped");
            return exitCode;
        }
        // The lab's own findings are sentences; anything else is unexpected and keeps its stack trace.
        var reason = failure.InnerException is LabException lab ? lab.Message : failure.InnerException?.ToString() ?? failure.Message;
        AnsiConsole.MarkupLine($"[red]failed step:[/] {Markup.Escape(failure.Step)}");
        AnsiConsole.MarkupLine($"[red]reason:[/] {Markup.Escape(reason)}");
        foreach (var (name, log) in env.Logs().Where(l => File.Exists(l.Log)))
        {
            AnsiConsole.MarkupLine($"[grey]--- {Markup.Escape(name)} log: {Markup.Escape(log)} (last lines)[/]");
            AnsiConsole.WriteLine(LabProcess.Tail(log, 25));
        }
        AnsiConsole.MarkupLine($"all logs: {Markup.Escape(settings.LogDirectory)}");
    }
}
return exitCode;
