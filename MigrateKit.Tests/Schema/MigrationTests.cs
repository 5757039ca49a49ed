using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using MigrateKit.Modules.Core.Data;
using MigrateKit.Tests.Support;
using MySqlConnector;

namespace MigrateKit.Tests.Schema;

[NonParallelizable] // creates and drops its own database on the shared server
[Category(TestKind.Database)]
public class MigrationTests
{
    private static readonly string Database = $"migratekit_migrations_{Environment.ProcessId}";

    [Test]
    public async Task Migrations_apply_to_an_empty_database_and_a_second_run_changes_nothing()
    {
        await TestDatabase.RecreateAsync(Database);
        var runner = new MigrationRunner(NullLogger<MigrationRunner>.Instance);
        var connectionString = TestDatabase.ForDatabase(Database);

        var first = runner.Migrate(connectionString);
        var afterFirst = await SchemaSnapshotAsync(connectionString);
        var second = runner.Migrate(connectionString);
        var afterSecond = await SchemaSnapshotAsync(connectionString);

        TestDatabase.Drop(Database);
        Assert.Multiple(() =>
        {
            Assert.That(first.Applied, Is.EqualTo(MigrationRunner.EmbeddedScripts().Count));
            Assert.That(second.Applied, Is.Zero);
            Assert.That(afterSecond, Is.EqualTo(afterFirst));
        });
    }

    [Test]
    public void Every_migration_script_is_embedded_in_the_binary()
    {
        var onDisk = Directory.GetFiles(Path.Combine(RepoPaths.Root, "db", "migrations"), "*.sql").Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.That(MigrationRunner.EmbeddedScripts(), Is.EqualTo(onDisk));
    }

    private static async Task<string> SchemaSnapshotAsync(string connectionString)
    {
        await using var conn = new MySqlConnection(connectionString);
        var columns = await conn.QueryAsync<string>("""
            SELECT CONCAT(table_name, '.', column_name, ' ', column_type, ' ', is_nullable) FROM information_schema.columns
            WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position
            """);
        var keys = await conn.QueryAsync<string>("""
            SELECT CONCAT(table_name, ' ', constraint_name, ' ', constraint_type) FROM information_schema.table_constraints
            WHERE table_schema = DATABASE() ORDER BY table_name, constraint_name
            """);
        var journal = await conn.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {MigrationRunner.JournalTable}");
        return string.Join('\n', columns.Concat(keys).Append($"journal {journal}"));
    }
}
