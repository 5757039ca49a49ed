using MigrateKit.Modules.Failover.Run;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Failover;

[Parallelizable] // pure functions
[Category(TestKind.Unit)]
public sealed class FailoverNamingTests
{
    private static readonly Guid Id = Guid.Parse("3f2a9c1e-0000-4000-8000-000000000000");

    [TestCase("mk-multi-disk", "mk-multi-disk-3f2a9c1e")]
    [TestCase("Web Server #1 (prod)", "web-server-1-prod-3f2a9c1e")]
    [TestCase("123-db", "vm-123-db-3f2a9c1e")]
    [TestCase("  ---  ", "vm-3f2a9c1e")]
    [TestCase("Grüße_Ölserver", "gr-e-lserver-3f2a9c1e")]
    public void A_source_name_becomes_an_ossea_host_name_with_the_failover_short_id(string source, string expected)
    {
        var name = FailoverNaming.VmName(source, Id);
        Assert.Multiple(() =>
        {
            Assert.That(name, Is.EqualTo(expected));
            Assert.That(FailoverNaming.HostName().IsMatch(name), Is.True);
        });
    }

    [Test]
    public void A_long_name_is_cut_to_63_characters_without_a_trailing_hyphen()
    {
        var name = FailoverNaming.VmName(new string('a', 53) + "-" + new string('b', 40), Id);
        Assert.Multiple(() =>
        {
            Assert.That(name, Has.Length.LessThanOrEqualTo(63));
            Assert.That(name, Does.EndWith("-3f2a9c1e"));
            Assert.That(name, Does.Not.Contain("--"));
            Assert.That(FailoverNaming.HostName().IsMatch(name), Is.True);
        });
    }

    [TestCase("web01", true)]
    [TestCase("a", true)]
    [TestCase("9web", false)]
    [TestCase("web-", false)]
    [TestCase("web_01", false)]
    [TestCase("", false)]
    public void Vm_names_follow_the_host_name_rule(string name, bool valid) =>
        Assert.That(FailoverNaming.HostName().IsMatch(name), Is.EqualTo(valid));

    [Test]
    public void The_owner_of_a_failover_vm_round_trips()
    {
        Assert.Multiple(() =>
        {
            Assert.That(FailoverNaming.TryParseOwner(FailoverNaming.Owner(Id), out var parsed), Is.True);
            Assert.That(parsed, Is.EqualTo(Id));
            Assert.That(FailoverNaming.TryParseOwner("replication:" + Id, out _), Is.False);
        });
    }

    [TestCase("preflight", "hold", false)]
    [TestCase("start_vm", "detach", true)]
    [TestCase("create_vm", "create_vm", true)]
    [TestCase(null, "preflight", false)]
    [TestCase("undo_stop_vm", "preflight", false)]
    [TestCase("start VM", "preflight", false)] // a label is not a key (V0026 rewrote the stored labels)
    public void Rollback_knows_which_steps_a_failover_reached(string? current, string step, bool reached) =>
        Assert.That(FailoverSteps.Reached(current, FailoverSteps.All.Single(s => s.Key == step)), Is.EqualTo(reached));

    [Test]
    public void Step_keys_are_unique_and_map_to_the_labels_operators_read()
    {
        Assert.Multiple(() =>
        {
            Assert.That(FailoverSteps.All.Select(s => s.Key), Is.Unique);
            Assert.That(FailoverSteps.All.Select(s => s.Key), Has.All.Matches("^[a-z_]{1,32}$"));
            Assert.That(FailoverSteps.Label("attach_root"), Is.EqualTo("attach root volume"));
            Assert.That(FailoverSteps.Label("undo_revert"), Is.EqualTo("revert volumes to their snapshots"));
            Assert.That(FailoverSteps.Label(null), Is.Null);
        });
    }
}
