using MySqlConnector;

namespace MigrateKit.Modules.Core.Data;

public static class DataSourceExtensions
{
    /// <summary>Opens a pooled connection; the caller disposes it (never cache an open connection).</summary>
    public static async Task<MySqlConnection> OpenAsync(this MySqlDataSource dataSource, CancellationToken ct)
    {
        var connection = dataSource.CreateConnection();
        try
        {
            await connection.OpenAsync(ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }
}
