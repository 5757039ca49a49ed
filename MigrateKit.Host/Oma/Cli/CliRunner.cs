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
        catch (MigrateKit.Modules.Core.Errors.ConfigurationErrorException ex)
        {
            await Console.Error.WriteLineAsync($"error: configuration: {ex.Message}");
            return 2;
        }
        catch (MigrateKit.Modules.Core.Data.DatabaseNotConfiguredException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 2;
        }
        catch (MigrateKit.Modules.Core.Data.DatabaseMigrationException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 3;
        }
        catch (MySqlConnector.MySqlException ex)
        {
            await Console.Error.WriteLineAsync($"error: database: {ex.Message}");
            return 3;
        }
        catch (MigrateKit.Modules.Core.Errors.RequestValidationException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 2;
        }
        catch (MigrateKit.Modules.Core.Errors.ConflictException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 4;
        }
        catch (MigrateKit.Modules.Core.Errors.NotFoundException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 4;
        }
    }
}
