using System.Reflection;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Architecture;

/// <summary>
/// The suite runs in parts (<c>scripts/test --fast</c>, <c>--kind K</c>) only if every fixture says
/// what it needs. A fixture with no kind would silently drop out of every part but the full run.
/// </summary>
[Category(TestKind.Unit)]
[Parallelizable]
public sealed class TestLayoutTests
{
    private static readonly Type[] TestAttributes = [typeof(TestAttribute), typeof(TestCaseAttribute), typeof(TestCaseSourceAttribute)];

    public static IEnumerable<TestCaseData> Fixtures() =>
        typeof(TestLayoutTests).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && t.GetMethods().Any(IsTest))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => new TestCaseData(t).SetArgDisplayNames(t.Name));

    [TestCaseSource(nameof(Fixtures))]
    public void Every_fixture_has_exactly_one_kind(Type fixture)
    {
        string[] kinds = fixture.GetCustomAttributes<CategoryAttribute>(inherit: true)
            .Select(c => c.Name)
            .Where(TestKind.All.Contains)
            .ToArray();
        Assert.That(kinds, Has.Length.EqualTo(1), $"{fixture.FullName}: add [Category(TestKind.…)] (one of {string.Join(", ", TestKind.All)})");
    }

    [Test]
    public void Every_kind_has_fixtures()
    {
        // The lab kind lives in the lab story tests; a kind nobody uses is a filter that runs nothing.
        var used = Fixtures().Select(d => (Type)d.Arguments[0]!)
            .SelectMany(t => t.GetCustomAttributes<CategoryAttribute>(inherit: true).Select(c => c.Name))
            .ToHashSet(StringComparer.Ordinal);
        Assert.That(TestKind.All, Is.SubsetOf(used));
    }

    private static bool IsTest(MethodInfo method) =>
        TestAttributes.Any(a => method.IsDefined(a, inherit: true));
}
