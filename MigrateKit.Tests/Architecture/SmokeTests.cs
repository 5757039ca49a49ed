namespace MigrateKit.Tests.Architecture;

[Parallelizable]
public class SmokeTests
{
    [Test]
    public void VersionFileIsExplicit()
    {
        var version = typeof(MigrateKit.Modules.Core.CoreModule).Assembly.GetName().Version;
        Assert.That(version, Is.Not.Null);
    }
}
