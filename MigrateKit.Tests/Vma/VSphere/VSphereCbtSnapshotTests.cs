using System.Text.RegularExpressions;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Vma.VSphere;

/// <summary>CBT enabling and the snapshot lifecycle against the simulator.</summary>
[NonParallelizable] // one simulator process per fixture; tests change VM state (CBT, snapshots)
[Category(TestKind.Peer)]
public sealed partial class VSphereCbtSnapshotTests : VcSimFixture
{
    private static CancellationToken Ct => TestContext.CurrentContext.CancellationToken;

    // "52 de c0 d9 b9 43 9d 10-61 d5 4c 1b e9 7b 65 63/81": a disk UUID, "/", a sequence number.
    [GeneratedRegex("^52( [0-9a-f]{2}){7}-[0-9a-f]{2}( [0-9a-f]{2}){7}/([0-9]+)$")]
    private static partial Regex ChangeIdPattern();

    private static int Sequence(string changeId) => int.Parse(ChangeIdPattern().Match(changeId).Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);

    private static string DiskUuid(string changeId) => changeId.Split('/')[0];

    private static async Task<VmInfo> VmAsync(VSphereClient client, string name)
        => (await client.DiscoverVmsAsync(Ct)).Single(v => v.Name == name);

    [Test]
    public async Task EnableCbtTurnsTrackingOnAndLeavesNoSnapshotBehind()
    {
        await using var client = Sim.CreateClient();
        var vm = await VmAsync(client, "DC0_H0_VM0");
        var before = await client.GetCbtStatusAsync(vm.Ref, Ct);
        Assert.That(before, Is.EqualTo(new CbtStatus(false, true, null, 13)));

        var after = await client.EnableCbtAsync(vm.Ref, Ct);

        Assert.That(after.Enabled, Is.True);
        var info = await client.GetVmAsync(vm.Ref, Ct);
        Assert.Multiple(() =>
        {
            Assert.That(info.ChangeTrackingEnabled, Is.True);
            Assert.That(info.Snapshots, Is.Empty, "the activation snapshot is removed again");
            Assert.That(info.Disks.Single().ChangeId, Does.Match(ChangeIdPattern()), "the stun cycle gave the disk a change id");
        });
        // Enabling again is a no-op, not an error.
        Assert.That((await client.EnableCbtAsync(vm.Ref, Ct)).Enabled, Is.True);
    }

    [Test]
    public async Task EnableCbtRefusesOldHardwareWithTheReason()
    {
        await using var client = Sim.CreateClient();
        var vm = await VmAsync(client, "mk-legacy-hw4");

        var status = await client.GetCbtStatusAsync(vm.Ref, Ct);
        var e = Assert.ThrowsAsync<CbtUnsupportedException>(() => client.EnableCbtAsync(vm.Ref, Ct));

        Assert.That(status.Supported, Is.False);
        Assert.That(status.Reason, Does.Contain("vmx-04"));
        Assert.That(e!.Reason, Does.Contain("vmx-04").And.Contain("vmx-07"));
        Assert.That((await client.GetVmAsync(vm.Ref, Ct)).ChangeTrackingEnabled, Is.False, "nothing was reconfigured");
    }

    [Test]
    public async Task EnableCbtRefusesAVmThatHasSnapshots()
    {
        await using var client = Sim.CreateClient();
        var vm = await VmAsync(client, "DC0_C0_RP0_VM1");
        var existing = await client.CreateSnapshotAsync(vm.Ref, "operator-snapshot", "", quiesce: false, Ct);
        try
        {
            var e = Assert.ThrowsAsync<CbtUnsupportedException>(() => client.EnableCbtAsync(vm.Ref, Ct));
            Assert.That(e!.Reason, Does.Contain("1 snapshot"));
            Assert.That((await client.GetVmAsync(vm.Ref, Ct)).ChangeTrackingEnabled, Is.False);
        }
        finally
        {
            await client.RemoveSnapshotAsync(existing, Ct);
        }
    }

    [Test]
    public async Task SnapshotLifecycleGivesEveryDiskAChangeIdThatAdvancesPerSnapshot()
    {
        await using var client = Sim.CreateClient();
        var vm = await VmAsync(client, "mk-multi-disk");
        await client.EnableCbtAsync(vm.Ref, Ct);

        var first = await client.CreateSnapshotAsync(vm.Ref, "migratekit-1", "sync 1", quiesce: false, Ct);
        var tree = await client.ListSnapshotsAsync(vm.Ref, Ct);
        Assert.That(tree.Select(s => (s.Ref, s.Name, s.Quiesced)), Is.EqualTo(new[] { (first, "migratekit-1", false) }));
        Assert.That((await Sim.InventoryAsync(Ct)).Single(v => v.Moref == vm.Ref.Value).Snapshots,
            Is.EqualTo(new[] { first.Value }), "the simulator's own snapshot tree");

        var firstDisks = await client.GetSnapshotDisksAsync(first, Ct);
        Assert.That(firstDisks.Select(d => d.DeviceKey), Is.EqualTo(vm.Disks.Select(d => d.DeviceKey)));
        Assert.That(firstDisks.Select(d => d.CapacityBytes), Is.EqualTo(vm.Disks.Select(d => d.CapacityBytes)));
        Assert.That(firstDisks.Select(d => d.ChangeId), Has.All.Match(ChangeIdPattern()));
        Assert.That(firstDisks.Select(d => DiskUuid(d.ChangeId!)).Distinct().Count(), Is.EqualTo(3), "one UUID per disk");

        // VMware's order: record the change id, delete the old snapshot, create the next one.
        await client.RemoveSnapshotAsync(first, Ct);
        Assert.That(await client.ListSnapshotsAsync(vm.Ref, Ct), Is.Empty);
        var second = await client.CreateSnapshotAsync(vm.Ref, "migratekit-2", "sync 2", quiesce: true, Ct);
        var secondDisks = await client.GetSnapshotDisksAsync(second, Ct);

        for (var i = 0; i < 3; i++)
        {
            var a = firstDisks[i].ChangeId!;
            var b = secondDisks[i].ChangeId!;
            Assert.That(DiskUuid(b), Is.EqualTo(DiskUuid(a)), "same disk, same CBT UUID");
            Assert.That(Sequence(b), Is.GreaterThan(Sequence(a)), "a later snapshot has a later change id");
        }
        Assert.That((await client.ListSnapshotsAsync(vm.Ref, Ct)).Single().Quiesced, Is.True);
        var vmDisks = (await client.GetVmAsync(vm.Ref, Ct)).Disks;
        Assert.That(vmDisks.Select(d => d.ChangeId), Is.EqualTo(secondDisks.Select(d => d.ChangeId)), "the VM's disks carry the newest change id");

        await client.RemoveSnapshotAsync(second, Ct);
        Assert.That(await client.ListSnapshotsAsync(vm.Ref, Ct), Is.Empty);
        Assert.That((await Sim.InventoryAsync(Ct)).Single(v => v.Moref == vm.Ref.Value).Snapshots, Is.Empty);
    }

    [Test]
    public async Task TaskFaultsSurfaceWithTheirTypeAndOperation()
    {
        await using var client = Sim.CreateClient();
        var vm = await VmAsync(client, "DC0_H0_VM1"); // powered on

        var e = Assert.ThrowsAsync<VSphereFaultException>(
            () => client.RunTaskAsync("PowerOnVM_Task", vm.Ref, null, null, Ct));

        Assert.That(e!.FaultType, Is.EqualTo("InvalidPowerState"));
        Assert.That(e.Message, Does.Contain("PowerOnVM_Task"));

        var missing = Assert.ThrowsAsync<VSphereFaultException>(
            () => client.RemoveSnapshotAsync(new MoRef("VirtualMachineSnapshot", "snapshot-nope"), Ct));
        Assert.That(missing!.FaultType, Is.EqualTo("ManagedObjectNotFound"));
    }
}
