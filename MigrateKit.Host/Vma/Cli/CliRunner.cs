using MigrateKit.Host.Vma.Hosting;

namespace MigrateKit.Host.Vma.Cli;

/// <summary>Runs a verb so that operator mistakes and unreachable peers print one clear line, not a stack trace.</summary>
internal static class CliRunner
{
    public static async Task<int> RunAsync(Func<Task<int>> verb)
    {
        try
        {
            return await verb();
        }
        catch (Exception e) when (e is VmaCliException or VmaConfigurationException or ArgumentException or InvalidDataException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException or HttpRequestException
            or MigrateKit.Modules.Transport.Pki.EnrollmentException or MigrateKit.Modules.Vma.Sources.DiskSourceException
            or MigrateKit.Modules.Vma.VSphere.VSphereException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("cancelled");
            return 130;
        }
    }
}
