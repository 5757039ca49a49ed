using MySqlConnector;

namespace MigrateKit.Modules.Core.Data;

/// <summary>Where the OMA's MariaDB is. Bound from the "Database" configuration section.</summary>
public sealed class DatabaseOptions
{
    public const string SectionName = "Database";

    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// Normalises an operator-supplied connection string: GUIDs as CHAR(36), DATETIMEs read back
    /// as UTC. Both are properties of the schema, not choices an operator should have to make.
    /// </summary>
    public static string Normalise(string connectionString)
    {
        var builder = new MySqlConnectionStringBuilder(connectionString)
        {
            GuidFormat = MySqlGuidFormat.Char36,
            DateTimeKind = MySqlDateTimeKind.Utc,
            AllowUserVariables = true,
        };
        return builder.ConnectionString;
    }

    /// <summary>Connection target without credentials, safe for logs and error messages.</summary>
    public static string Describe(string connectionString)
    {
        try
        {
            var b = new MySqlConnectionStringBuilder(connectionString);
            return $"{b.Server}:{b.Port}/{b.Database}";
        }
        catch (ArgumentException)
        {
            return "(unparseable connection string)";
        }
    }
}

/// <summary>No database is configured; the message says the three ways to configure one.</summary>
public sealed class DatabaseNotConfiguredException()
    : InvalidOperationException("No database configured: pass --db, set MIGRATEKIT_DB, or set Database:ConnectionString in the configuration file.");
