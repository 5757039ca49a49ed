using System.CommandLine;
using MigrateKit.Host.Vma.Hosting;

namespace MigrateKit.Host.Vma.Cli;

internal static class RunCommand
{
    public static Command Create()
    {
        var command = new Command("run", "Run the agent service (the default): tunnel to the OMA, the loopback VMA API, vCenter keep-alive, syncs.");
        command.SetAction((parseResult, ct) => RunAsync(parseResult, ct));
        return command;
    }

    public static Task<int> RunAsync(ParseResult parse, CancellationToken ct) => CliRunner.RunAsync(async () =>
    {
        var configuration = VmaCliOptions.BuildConfiguration(parse);
        await using var app = VmaApplication.Build(configuration);
        await app.RunAsync(ct);
        return 0;
    });
}
