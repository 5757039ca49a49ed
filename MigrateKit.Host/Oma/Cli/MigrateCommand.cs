using System.CommandLine;
using MigrateKit.Host.Oma.Hosting;
using MigrateKit.Modules.Core.Data;

namespace MigrateKit.Host.Oma.Cli;

internal static class MigrateCommand
{
    public static Command Create()
    {
        var command = new Command("migrate", "Apply the database schema (db/migrations) and exit. Safe to run again.");
        command.SetAction((parseResult, ct) => CliRunner.RunAsync(async () =>
        {
            var configuration = OmaOptions.BuildConfiguration(parseResult);
            await using var app = OmaApplication.Build(configuration);
            await OmaApplication.MigrateAsync(app.Services, TimeSpan.FromSeconds(30), ct);
            Console.WriteLine($"schema up to date ({MigrationRunner.EmbeddedScripts().Count} scripts)");
            return 0;
        }));
        return command;
    }
}
