using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using MySqlConnector;

namespace MigrateKit.Modules.Core.Api;

public sealed record HealthReport(string Status, string Version, DatabaseHealth Database);

public sealed record DatabaseHealth(bool Reachable, string? Error);

internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder routes) =>
        routes.MapGet("/api/v1/health", GetHealth).WithName("GetHealth").WithTags("Health").AllowAnonymous();

    /// <summary>200 when the database answers, 503 otherwise; the body says which, and the version.</summary>
    private static async Task<IResult> GetHealth(MySqlDataSource dataSource, CancellationToken ct)
    {
        DatabaseHealth database;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            await using var conn = await dataSource.OpenConnectionAsync(timeout.Token);
            await using var cmd = new MySqlCommand("SELECT 1", conn);
            await cmd.ExecuteScalarAsync(timeout.Token);
            database = new DatabaseHealth(true, null);
        }
        catch (Exception ex) when (ex is MySqlException or OperationCanceledException or InvalidOperationException)
        {
            // The message of a connection failure names host and cause, never the password.
            database = new DatabaseHealth(false, ex is OperationCanceledException ? "timed out" : ex.Message);
        }
        var report = new HealthReport(database.Reachable ? "ok" : "degraded", ProductVersion.Current, database);
        return Results.Json(report, statusCode: database.Reachable ? 200 : 503);
    }
}

public static class ProductVersion
{
    /// <summary>The version from VERSION.txt, stamped into every assembly at build time.</summary>
    public static string Current { get; } =
        typeof(ProductVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
