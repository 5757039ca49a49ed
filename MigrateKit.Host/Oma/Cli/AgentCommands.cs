using System.CommandLine;
using System.Globalization;
using MediatR;
using MigrateKit.Host.Oma.Hosting;
using MigrateKit.Modules.Agents;
using MigrateKit.Modules.Agents.Contracts;

namespace MigrateKit.Host.Oma.Cli;

/// <summary>Operator verbs for VMA agents: one-time enrollment tokens and the OMA's certificate fingerprint.</summary>
internal static class AgentCommands
{
    public static Command EnrollToken()
    {
        var name = new Option<string>("--name") { Description = "Name of the agent this token enrolls.", Required = true };
        var ttl = new Option<TimeSpan>("--ttl")
        {
            Description = "How long the token stays valid (e.g. 1:00:00 for an hour; at most 7 days).",
            DefaultValueFactory = _ => TimeSpan.FromHours(1),
        };
        var command = new Command("enroll-token", "Create a one-time enrollment token for a VMA agent; printed once, stored as a hash.") { name, ttl };
        command.SetAction((parseResult, ct) => CliRunner.RunAsync(async () =>
        {
            var configuration = OmaOptions.BuildConfiguration(parseResult);
            await using var app = OmaApplication.Build(configuration);
            await OmaApplication.MigrateAsync(app.Services, TimeSpan.FromSeconds(30), ct);
            await using var scope = app.Services.CreateAsyncScope();
            var created = await scope.ServiceProvider.GetRequiredService<IMediator>()
                .Send(new CreateEnrollmentTokenCommand(parseResult.GetValue(name)!, parseResult.GetValue(ttl)), ct);
            Console.WriteLine(created.Token);
            await Console.Error.WriteLineAsync(
                $"enrollment token for agent '{created.AgentName}', valid until {created.ExpiresAt.ToString("u", CultureInfo.InvariantCulture)}; it works once.");
            return 0;
        }));
        return command;
    }

    public static Command Fingerprint()
    {
        var command = new Command("fingerprint", "Print the SHA-256 fingerprint of the OMA's tunnel certificate (agents pin it when they enroll).");
        command.SetAction((parseResult, _) => CliRunner.RunAsync(() =>
        {
            var configuration = OmaOptions.BuildConfiguration(parseResult);
            Console.WriteLine(AgentsModule.ServerFingerprint(configuration, TimeProvider.System));
            return Task.FromResult(0);
        }));
        return command;
    }
}
