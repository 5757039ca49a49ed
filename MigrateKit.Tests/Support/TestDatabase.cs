using MigrateKit.Modules.Core.Data;
using Microsoft.Extensions.Logging.Abstractions;
using MySqlConnector;
using Respawn;
using Respawn.Graph;

namespace MigrateKit.Tests.Support;

/// <summary>
/// The real MariaDB the tests use (never a mock): MIGRATEKIT_TEST_DB, as printed by
/// `scripts/db url` (scripts/test sets it). Each test run starts from a freshly created database
/// so the migrations are exercised on an empty schema; Respawn empties the tables between tests.
/// </summary>
internal static class TestDatabase
{
    /// <summary>One database per test process, so two runs on one server (two developers, a helper) never share tables.</summary>
    public static readonly string TestDatabaseName = $"migratekit_test_{Environment.ProcessId}";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static Respawner? _respawner;

    public static string ServerConnectionString
    {
        get
        {
            var configured = Environment.GetEnvironmentVariable("MIGRATEKIT_TEST_DB");
            if (string.IsNullOrWhiteSpace(configured))
            {
                Assert.Fail("MIGRATEKIT_TEST_DB is not set. Run the tests with scripts/test, or: scripts/db start && export MIGRATEKIT_TEST_DB=\"$(scripts/db url)\"");
            }
            return configured!;
        }
    }

    /// <summary>Connection string of the test database (same server, its own database).</summary>
    public static string ConnectionString => ForDatabase(TestDatabaseName);

    public static string ForDatabase(string database) =>
        DatabaseOptions.Normalise(new MySqlConnectionStringBuilder(ServerConnectionString) { Database = database }.ConnectionString);

    /// <summary>Drops and recreates <paramref name="database"/> (empty).</summary>
    public static async Task RecreateAsync(string database)
    {
        var server = new MySqlConnectionStringBuilder(ServerConnectionString) { Database = "" }.ConnectionString;
        try
        {
            await using var conn = new MySqlConnection(server);
            await conn.OpenAsync();
            await using var cmd = new MySqlCommand($"DROP DATABASE IF EXISTS `{database}`; CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        catch (MySqlException ex)
        {
            Assert.Fail($"MariaDB at {DatabaseOptions.Describe(server)} is not reachable ({ex.Message}). Start it with scripts/db start, or run scripts/test.");
        }
    }

    internal static void Drop(string database)
    {
        try
        {
            using var conn = new MySqlConnection(new MySqlConnectionStringBuilder(ServerConnectionString) { Database = "" }.ConnectionString);
            conn.Open();
            using var cmd = new MySqlCommand($"DROP DATABASE IF EXISTS `{database}`", conn);
            cmd.ExecuteNonQuery();
        }
        catch (MySqlException)
        {
            // The server may already be gone at exit; scripts/test stops it anyway.
        }
    }

    /// <summary>Once per test run: a fresh database with the whole schema, and a Respawner for it.</summary>
    public static async Task EnsureMigratedAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_respawner is not null)
            {
                return;
            }
            await RecreateAsync(TestDatabaseName);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Drop(TestDatabaseName);
            new MigrationRunner(NullLogger<MigrationRunner>.Instance).Migrate(ConnectionString);
            await using var conn = new MySqlConnection(ConnectionString);
            await conn.OpenAsync();
            _respawner = await Respawner.CreateAsync(conn, new RespawnerOptions
            {
                DbAdapter = DbAdapter.MySql,
                SchemasToInclude = [TestDatabaseName],
                TablesToIgnore = [new Table(MigrationRunner.JournalTable)],
            });
        }
        finally
        {
            Gate.Release();
        }
    }

    public static async Task ResetAsync()
    {
        await EnsureMigratedAsync();
        await using var conn = new MySqlConnection(ConnectionString);
        await conn.OpenAsync();
        await _respawner!.ResetAsync(conn);
    }
}
