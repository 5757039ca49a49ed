using MigrateKit.Modules.Core.Data;
using MigrateKit.Modules.Core.Errors;
using MySqlConnector;

namespace MigrateKit.Host.Oma.Cli;

/// <summary>Runs a verb so that operator mistakes print one clear line instead of a stack trace.</summary>
internal static class CliRunner
{
    public static async Task<int> RunAsync(Func<Task<int>> verb)
    {
        try
        {
            return await verb();
        }
        catch (Exception ex) when (Describe(ex) is { } failure)
        {
            await Console.Error.WriteLineAsync($"error: {failure.Prefix}{ex.Message}");
            return failure.ExitCode;
        }
    }

    /// <summary>Exit codes: 2 fix the input or configuration, 3 the database, 4 the state refuses it.</summary>
    private static (string Prefix, int ExitCode)? Describe(Exception ex) => ex switch
    {
        ConfigurationErrorException => ("configuration: ", 2),
        DatabaseNotConfiguredException or RequestValidationException => ("", 2),
        DatabaseMigrationException => ("", 3),
        MySqlException => ("database: ", 3),
        ConflictException or NotFoundException => ("", 4),
        _ => null,
    };
}
