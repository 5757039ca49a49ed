using System.CommandLine;
using MediatR;
using MigrateKit.Host.Oma.Hosting;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Host.Oma.Cli;

internal static class CreateTokenCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "A name for the token (who or what uses it)." };
        var command = new Command("create-token", "Create an admin API token; it is printed once and only its hash is stored.") { name };
        command.SetAction((parseResult, ct) => CliRunner.RunAsync(async () =>
        {
            var configuration = OmaOptions.BuildConfiguration(parseResult);
            await using var app = OmaApplication.Build(configuration);
            await OmaApplication.MigrateAsync(app.Services, TimeSpan.FromSeconds(30), ct);
            await using var scope = app.Services.CreateAsyncScope();
            var created = await scope.ServiceProvider.GetRequiredService<IMediator>()
                .Send(new CreateAdminTokenCommand(parseResult.GetValue(name)!), ct);
            // The token goes to stdout alone, so scripts can capture it; the note goes to stderr.
            Console.WriteLine(created.Token);
            await Console.Error.WriteLineAsync($"token '{created.Name}' created; it cannot be shown again.");
            return 0;
        }));
        return command;
    }
}
