using EvolveDb;
using Microsoft.Extensions.Logging;
using MySqlConnector;

namespace MigrateKit.Modules.Core.Data;

/// <summary>
/// Applies db/migrations (embedded in this assembly) in order, journaled in <c>schemaversions</c>.
/// Evolve takes a database lock, so two OMA processes starting at once do not race; scripts
/// already applied are skipped, so running it twice changes nothing.
/// </summary>
public sealed partial class MigrationRunner(ILogger<MigrationRunner> logger)
{
    public const string JournalTable = "schemaversions";
    internal const string ResourcePrefix = "MigrateKit.Migrations.";

    /// <param name="targetVersion">The last version to apply (e.g. "25"); null applies every script. Tests build an older schema with it.</param>
    public MigrationResult Migrate(string connectionString, string? targetVersion = null)
    {
        using var connection = new MySqlConnection(DatabaseOptions.Normalise(connectionString));
        var evolve = new Evolve(connection, message => LogEvolve(logger, message), EvolveDb.Dialect.DBMS.MariaDB)
        {
            EmbeddedResourceAssemblies = [typeof(MigrationRunner).Assembly],
            EmbeddedResourceFilters = [ResourcePrefix],
            MetadataTableName = JournalTable,
            IsEraseDisabled = true,
            EnableClusterMode = true,
            // MariaDB commits DDL implicitly; each script is one DDL change and safe to rerun.
            TransactionMode = EvolveDb.Configuration.TransactionKind.CommitEach,
        };
        if (targetVersion is not null)
        {
            evolve.TargetVersion = new EvolveDb.Migration.MigrationVersion(targetVersion);
        }
        try
        {
            evolve.Migrate();
        }
        catch (EvolveException ex)
        {
            var cause = ex.InnerException is { } inner ? $" ({inner.Message})" : "";
            throw new DatabaseMigrationException($"Applying the schema to {DatabaseOptions.Describe(connectionString)} failed: {ex.Message}{cause}", ex);
        }
        return new MigrationResult(evolve.NbMigration, evolve.AppliedMigrations.ToArray());
    }

    /// <summary>Names of the scripts this binary carries, in the order they apply.</summary>
    public static IReadOnlyList<string> EmbeddedScripts() =>
        typeof(MigrationRunner).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            .Select(n => n[ResourcePrefix.Length..])
            .Order(StringComparer.Ordinal)
            .ToArray();

    [LoggerMessage(EventId = 100, EventName = "Migration", Level = LogLevel.Information, Message = "{Message}")]
    private static partial void LogEvolve(ILogger logger, string message);
}

/// <summary>The schema could not be applied; the message names the database, never its password.</summary>
public sealed class DatabaseMigrationException(string message, Exception inner) : Exception(message, inner);

public sealed record MigrationResult(int Applied, IReadOnlyList<string> Scripts);
