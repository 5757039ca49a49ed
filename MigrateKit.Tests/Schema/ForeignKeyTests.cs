using System.Globalization;
using Dapper;
using MigrateKit.Tests.Support;
using MySqlConnector;

namespace MigrateKit.Tests.Schema;

/// <summary>
/// Orphans are impossible: for every foreign key of the schema, a child row pointing at a parent
/// that does not exist is refused by MariaDB (error 1452), whatever code tries it.
/// </summary>
[Category(TestKind.Database)]
public class ForeignKeyTests : DatabaseTest
{
    internal sealed record ForeignKey(string Name, string Table, string Column, string ReferencedTable, string ReferencedColumn);

    private sealed class ColumnInfo
    {
        public string Name { get; init; } = "";
        public string DataType { get; init; } = "";
        public string ColumnType { get; init; } = "";
        public bool Nullable { get; init; }
        public bool HasDefault { get; init; }
        public bool AutoIncrement { get; init; }
        public long? MaxLength { get; init; }
    }

    [Test]
    public async Task The_schema_has_the_foreign_keys_that_prevent_orphans()
    {
        var keys = await ForeignKeysAsync();
        // The old system had 7; this schema has more because every volume reference is checked.
        Assert.That(keys, Has.Count.GreaterThanOrEqualTo(20));
        Assert.That(keys.Select(k => $"{k.Table}.{k.Column}->{k.ReferencedTable}.{k.ReferencedColumn}"), Is.SupersetOf(new[]
        {
            "device_mappings.volume_id->ossea_volumes.volume_id",
            "nbd_exports.volume_id->device_mappings.volume_id",
            "vm_disks.job_id->replication_jobs.id",
            "vm_disks.ossea_volume_id->ossea_volumes.id",
            "failover_jobs.replication_job_id->replication_jobs.id",
            "cbt_history.vm_disk_id->vm_disks.id",
        }));
    }

    [Test]
    public async Task Inserting_an_orphan_fails_for_every_foreign_key()
    {
        var keys = await ForeignKeysAsync();
        await using var conn = await OpenAsync();
        var failures = new List<string>();
        foreach (var key in keys)
        {
            // Every other required reference points at a real parent, so only this key can refuse the row.
            var values = await BuildRowAsync(conn, keys, key.Table, orphan: key);
            try
            {
                await InsertAsync(conn, key.Table, values);
                failures.Add($"{key.Name}: orphan row accepted in {key.Table}");
            }
            catch (MySqlException ex) when (ex.ErrorCode == MySqlErrorCode.NoReferencedRow2 && ex.Message.Contains(key.Name, StringComparison.Ordinal))
            {
                // refused by this very key, as it must be
            }
            catch (MySqlException ex)
            {
                failures.Add($"{key.Name}: refused for another reason ({ex.Message})");
            }
        }
        Assert.That(failures, Is.Empty);
    }

    private static async Task<Dictionary<string, object>> BuildRowAsync(MySqlConnection conn, List<ForeignKey> keys, string table, ForeignKey? orphan)
    {
        var values = new Dictionary<string, object>();
        foreach (var column in await ColumnsAsync(conn, table))
        {
            var isOrphanColumn = orphan is not null && column.Name == orphan.Column;
            if (!isOrphanColumn && (column.Nullable || column.HasDefault || column.AutoIncrement))
            {
                continue;
            }
            var reference = keys.FirstOrDefault(k => k.Table == table && k.Column == column.Name);
            values[column.Name] = isOrphanColumn ? Missing(column)
                : reference is not null ? await InsertParentAsync(conn, keys, reference)
                : await AllowedStateAsync(conn, table, column.Name) ?? Sample(column);
        }
        return values;
    }

    private static async Task<object> InsertParentAsync(MySqlConnection conn, List<ForeignKey> keys, ForeignKey reference)
    {
        var parent = await BuildRowAsync(conn, keys, reference.ReferencedTable, orphan: null);
        await InsertAsync(conn, reference.ReferencedTable, parent);
        return parent.TryGetValue(reference.ReferencedColumn, out var value)
            ? value
            : await conn.ExecuteScalarAsync<long>("SELECT LAST_INSERT_ID()");
    }

    private static Task InsertAsync(MySqlConnection conn, string table, Dictionary<string, object> values) =>
        conn.ExecuteAsync(
            $"INSERT INTO `{table}` ({string.Join(", ", values.Keys.Select(k => $"`{k}`"))}) VALUES ({string.Join(", ", values.Keys.Select(k => "@" + k))})",
            new DynamicParameters(values));

    private static async Task<List<ForeignKey>> ForeignKeysAsync()
    {
        await using var conn = await OpenAsync();
        return (await conn.QueryAsync<ForeignKey>("""
            SELECT constraint_name AS Name, table_name AS `Table`, column_name AS `Column`,
                   referenced_table_name AS ReferencedTable, referenced_column_name AS ReferencedColumn
            FROM information_schema.key_column_usage
            WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL
            ORDER BY table_name, constraint_name
            """)).AsList();
    }

    private static async Task<List<ColumnInfo>> ColumnsAsync(MySqlConnection conn, string table) =>
        (await conn.QueryAsync<ColumnInfo>("""
            SELECT column_name AS Name, data_type AS DataType, column_type AS ColumnType, is_nullable = 'YES' AS Nullable,
                   column_default IS NOT NULL AS HasDefault, extra LIKE '%auto_increment%' AS AutoIncrement,
                   character_maximum_length AS MaxLength
            FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = @table
            """, new { table })).AsList();

    /// <summary>For a state column (V0025's ck_TABLE_COLUMN), the first state its CHECK takes.</summary>
    private static async Task<string?> AllowedStateAsync(MySqlConnection conn, string table, string column)
    {
        var clause = await conn.QuerySingleOrDefaultAsync<string?>(
            "SELECT check_clause FROM information_schema.check_constraints WHERE constraint_schema = DATABASE() AND table_name = @table AND constraint_name = @name",
            new { table, name = $"ck_{table}_{column}" });
        return clause is null ? null : System.Text.RegularExpressions.Regex.Match(clause, "'([^']*)'").Groups[1].Value;
    }

    /// <summary>A value no parent row has.</summary>
    private static object Missing(ColumnInfo c) => c.DataType switch
    {
        "int" or "bigint" => 987_654_321,
        "char" when c.MaxLength == 36 => Guid.NewGuid().ToString(),
        _ => "no-such-parent",
    };

    /// <summary>A valid value for a required column, so only the foreign key can refuse the row.</summary>
    private static object Sample(ColumnInfo c) => c.DataType switch
    {
        "int" or "bigint" or "smallint" or "tinyint" => 1,
        "decimal" => 0m,
        "datetime" or "timestamp" => new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc),
        "enum" => c.ColumnType[(c.ColumnType.IndexOf('\'') + 1)..c.ColumnType.IndexOf('\'', c.ColumnType.IndexOf('\'') + 1)],
        "longtext" => "{}",
        "char" when c.MaxLength == 36 => Guid.NewGuid().ToString(),
        "char" => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(64))[..(int)(c.MaxLength ?? 1)],
        _ => "x" + Random.Shared.Next().ToString(CultureInfo.InvariantCulture),
    };
}
