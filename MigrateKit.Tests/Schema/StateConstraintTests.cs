using Dapper;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MySqlConnector;

namespace MigrateKit.Tests.Schema;

/// <summary>
/// Every state column MigrateKit owns has a CHECK (V0025) that takes exactly the states of its
/// constants: the code and the schema cannot drift apart, and an unknown state is refused.
/// </summary>
[Category(TestKind.Database)]
public class StateConstraintTests : DatabaseTest
{
    private static readonly (string Table, string Column, IReadOnlyList<string> States)[] Columns =
    [
        ("replication_jobs", "status", ReplicationStatuses.All),
        ("vm_disks", "sync_status", DiskSyncStatuses.All),
        ("failover_jobs", "status", FailoverStatuses.All),
        ("failover_snapshots", "status", FailoverSnapshotStatuses.All),
        ("device_mappings", "linux_state", LinuxDeviceStates.All),
        ("nbd_exports", "status", NbdExportStatuses.All),
    ];

    public static IEnumerable<TestCaseData> StateColumns() =>
        Columns.Select(c => new TestCaseData(c.Table, c.Column, c.States).SetArgDisplayNames($"{c.Table}.{c.Column}"));

    [TestCaseSource(nameof(StateColumns))]
    public async Task The_check_takes_exactly_the_states_of_the_constants(string table, string column, IReadOnlyList<string> states)
    {
        await using var conn = await OpenAsync();
        var clause = await CheckClauseAsync(conn, table, column);
        Assert.That(clause, Is.Not.Null, $"{table}.{column} has no CHECK constraint");

        // Evaluate the clause as MariaDB stored it, on a probe table with the same column.
        await conn.ExecuteAsync($"CREATE TEMPORARY TABLE state_probe ({column} VARCHAR(64) NOT NULL, CONSTRAINT ck_probe CHECK ({clause}))");
        try
        {
            foreach (var state in states)
            {
                await conn.ExecuteAsync($"INSERT INTO state_probe ({column}) VALUES (@state)", new { state });
            }
            var refused = Assert.ThrowsAsync<MySqlException>(() =>
                conn.ExecuteAsync($"INSERT INTO state_probe ({column}) VALUES ('no-such-state')"));
            Assert.That(refused!.Number, Is.EqualTo(4025), "ER_CONSTRAINT_FAILED");
            Assert.That(QuotedValues(clause!), Is.EquivalentTo(states), "the CHECK lists a state the code does not know");
        }
        finally
        {
            await conn.ExecuteAsync("DROP TEMPORARY TABLE state_probe");
        }
    }

    private static Task<string?> CheckClauseAsync(MySqlConnection conn, string table, string column) =>
        conn.QuerySingleOrDefaultAsync<string?>(
            """
            SELECT check_clause FROM information_schema.check_constraints
            WHERE constraint_schema = DATABASE() AND table_name = @table AND constraint_name = @name
            """,
            new { table, name = $"ck_{table}_{column}" });

    private static IEnumerable<string> QuotedValues(string clause) =>
        System.Text.RegularExpressions.Regex.Matches(clause, "'([^']*)'").Select(m => m.Groups[1].Value);
}
