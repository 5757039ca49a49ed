using System.CommandLine;
using MigrateKit.Host.Oma.Hosting;

namespace MigrateKit.Host.Oma.Cli;

internal static class RunCommand
{
    public static Command Create()
    {
        var command = new Command("run", "Run the OMA service (the default): applies the schema, then serves the admin API.");
        command.SetAction((parseResult, ct) => RunAsync(parseResult, ct));
        return command;
    }

    public static Task<int> RunAsync(ParseResult parse, CancellationToken ct) => CliRunner.RunAsync(async () =>
    {
        var configuration = OmaOptions.BuildConfiguration(parse);
        await using var app = OmaApplication.Build(configuration);
        await OmaApplication.MigrateAsync(app.Services, TimeSpan.FromSeconds(60), ct);
        await app.RunAsync();
        return 0;
    });
}
