using System.Reflection;
using System.Text.RegularExpressions;
using MigrateKit.Tests.Support;
using MySqlConnector;

namespace MigrateKit.Tests.Schema;

/// <summary>
/// The schema is the contract (DESIGN rule 4): every SQL statement the code holds (the const
/// strings named *Sql in each module's store) is prepared by MariaDB against the migrated schema,
/// which resolves every table and column it names. A renamed column fails here, not in production.
/// </summary>
[Category(TestKind.Database)]
public partial class SqlMatchesSchemaTests : DatabaseTest
{
    public static IEnumerable<TestCaseData> Statements() =>
        ModuleAssemblies.All
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Where(f => f is { IsLiteral: true } && f.FieldType == typeof(string) && f.Name.EndsWith("Sql", StringComparison.Ordinal))
            .Select(f => new TestCaseData((string)f.GetRawConstantValue()!).SetArgDisplayNames($"{f.DeclaringType!.Name}.{f.Name}"));

    [Test]
    public void The_code_holds_sql_to_check()
    {
        Assert.That(Statements().Count(), Is.GreaterThanOrEqualTo(10));
    }

    [TestCaseSource(nameof(Statements))]
    public async Task Statement_names_only_existing_tables_and_columns(string sql)
    {
        await using var conn = await OpenAsync();
        foreach (var statement in sql.Split(';').Select(s => s.Trim()).Where(s => s.Length > 0))
        {
            // Dapper expands `IN @List` into a parenthesised list of parameters.
            var text = Parameter().Replace(ListParameter().Replace(statement, "IN (?)"), "?");
            await using var prepare = new MySqlCommand("PREPARE schema_check FROM @text", conn);
            prepare.Parameters.AddWithValue("@text", text);
            try
            {
                await prepare.ExecuteNonQueryAsync();
            }
            catch (MySqlException ex)
            {
                Assert.Fail($"MariaDB refuses: {ex.Message}\n{statement}");
            }
            await using var deallocate = new MySqlCommand("DEALLOCATE PREPARE schema_check", conn);
            await deallocate.ExecuteNonQueryAsync();
        }
    }

    [GeneratedRegex(@"(?<![@\w])@\w+")]
    private static partial Regex Parameter();

    [GeneratedRegex(@"\bIN\s+@\w+", RegexOptions.IgnoreCase)]
    private static partial Regex ListParameter();
}
