using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Vma.VSphere;

/// <summary>QueryChangedDiskAreas paging and change-id rejection against the simulator's CBT file.</summary>
[NonParallelizable] // one simulator process and CBT file per fixture
[Category(TestKind.Peer)]
public sealed class VSphereChangedAreasTests : VcSimFixture
{
    private const long MiB = 1024 * 1024;
    private static CancellationToken Ct => TestContext.CurrentContext.CancellationToken;

    private VmInfo _vm = null!;
    private VmDisk _disk = null!;
    private MoRef _snapshot1;
    private MoRef _snapshot2;
    private string _changeId1 = "";

    [OneTimeSetUp]
    public async Task PrepareVmAsync()
    {
        await using var client = Sim.CreateClient();
        _vm = (await client.DiscoverVmsAsync(Ct)).Single(v => v.Name == "mk-multi-disk");
        _disk = _vm.Disks[0]; // 10 GiB thin
        await client.EnableCbtAsync(_vm.Ref, Ct);
        _snapshot1 = await client.CreateSnapshotAsync(_vm.Ref, "t1", "", quiesce: false, Ct);
        _changeId1 = (await client.GetSnapshotDisksAsync(_snapshot1, Ct)).Single(d => d.DeviceKey == _disk.DeviceKey).ChangeId!;
        await client.RemoveSnapshotAsync(_snapshot1, Ct);
        _snapshot2 = await client.CreateSnapshotAsync(_vm.Ref, "t2", "", quiesce: false, Ct);
    }

    [Test]
    public async Task PagesUntilTheDiskIsCoveredAndMergesAreas()
    {
        // Seven areas, two pairs touching, two per page → four calls.
        Sim.WriteChangedAreas(2, (_vm.Ref.Value, _disk.DeviceKey, _changeId1,
        [
            (0, MiB), (MiB, MiB), // touch → one extent
            (5 * MiB, 64 * 1024),
            (100 * MiB, 3 * MiB), (103 * MiB, MiB), // touch
            (2048 * MiB, 512 * 1024),
            (10240 * MiB - MiB, MiB), // the last MiB of the disk
        ]));
        await using var client = Sim.CreateClient();

        var result = await client.QueryAllChangedAreasAsync(_vm.Ref, _snapshot2, _disk.DeviceKey, _disk.CapacityBytes, _changeId1, Ct);

        Assert.That(result.Pages, Is.EqualTo(4));
        Assert.That(result.Extents, Is.EqualTo(new[]
        {
            new DiskExtent(0, 2 * MiB),
            new DiskExtent(5 * MiB, 64 * 1024),
            new DiskExtent(100 * MiB, 4 * MiB),
            new DiskExtent(2048 * MiB, 512 * 1024),
            new DiskExtent(10239 * MiB, MiB),
        }));
        Assert.That(result.TotalBytes, Is.EqualTo(7 * MiB + 64 * 1024 + 512 * 1024));
    }

    [Test]
    public async Task OnePageReportsItsCoverage()
    {
        Sim.WriteChangedAreas(2, (_vm.Ref.Value, _disk.DeviceKey, _changeId1,
            [(0, MiB), (4 * MiB, MiB), (8 * MiB, MiB)]));
        await using var client = Sim.CreateClient();

        var page = await client.QueryChangedDiskAreasAsync(_vm.Ref, _snapshot2, _disk.DeviceKey, 0, _changeId1, Ct);
        var next = await client.QueryChangedDiskAreasAsync(_vm.Ref, _snapshot2, _disk.DeviceKey, page.StartOffset + page.Length, _changeId1, Ct);

        Assert.That(page, Is.EqualTo(page with { StartOffset = 0, Length = 5 * MiB }));
        Assert.That(page.ChangedAreas, Is.EqualTo(new[] { new DiskExtent(0, MiB), new DiskExtent(4 * MiB, MiB) }));
        Assert.That(next.StartOffset, Is.EqualTo(5 * MiB));
        Assert.That(next.Length, Is.EqualTo(_disk.CapacityBytes - 5 * MiB), "the last page covers the rest of the disk");
        Assert.That(next.ChangedAreas, Is.EqualTo(new[] { new DiskExtent(8 * MiB, MiB) }));
    }

    [Test]
    public async Task StarListsAllocatedAreasOrTheWholeDiskWhenStorageCannotTell()
    {
        await using var client = Sim.CreateClient();
        Sim.WriteChangedAreas(0, (_vm.Ref.Value, _disk.DeviceKey, "*", [(0, 8 * MiB), (64 * MiB, MiB)]));
        var allocated = await client.QueryAllChangedAreasAsync(_vm.Ref, _snapshot2, _disk.DeviceKey, _disk.CapacityBytes, "*", Ct);
        Assert.That(allocated.Extents, Is.EqualTo(new[] { new DiskExtent(0, 8 * MiB), new DiskExtent(64 * MiB, MiB) }));
        Assert.That(allocated.Pages, Is.EqualTo(1));

        Sim.WriteChangedAreas(0);
        var whole = await client.QueryAllChangedAreasAsync(_vm.Ref, _snapshot2, _disk.DeviceKey, _disk.CapacityBytes, "*", Ct);
        Assert.That(whole.Extents, Is.EqualTo(new[] { new DiskExtent(0, _disk.CapacityBytes) }));
    }

    [Test]
    public async Task AnIssuedChangeIdWithoutWritesHasNoChangedAreas()
    {
        Sim.WriteChangedAreas(0);
        await using var client = Sim.CreateClient();

        var result = await client.QueryAllChangedAreasAsync(_vm.Ref, _snapshot2, _disk.DeviceKey, _disk.CapacityBytes, _changeId1, Ct);

        Assert.That(result.Extents, Is.Empty);
        Assert.That(result.Pages, Is.EqualTo(1));
    }

    [Test]
    public async Task AnUnknownChangeIdIsRejectedSoReplicationCanFallBackToAFullCopy()
    {
        Sim.WriteChangedAreas(0);
        await using var client = Sim.CreateClient();
        var reset = "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/1";

        var e = Assert.ThrowsAsync<ChangeIdRejectedException>(() =>
            client.QueryAllChangedAreasAsync(_vm.Ref, _snapshot2, _disk.DeviceKey, _disk.CapacityBytes, reset, Ct));

        Assert.That(e!.ChangeId, Is.EqualTo(reset));
        Assert.That(e.DeviceKey, Is.EqualTo(_disk.DeviceKey));
        Assert.That(((VSphereFaultException)e.InnerException!).FaultType, Is.EqualTo("FileFault"));
    }

    [Test]
    public async Task AnOffsetAtTheEndOfTheDiskIsACallerErrorNotACbtReset()
    {
        await using var client = Sim.CreateClient();

        var e = Assert.ThrowsAsync<VSphereFaultException>(() =>
            client.QueryChangedDiskAreasAsync(_vm.Ref, _snapshot2, _disk.DeviceKey, _disk.CapacityBytes, _changeId1, Ct));

        Assert.That(e!.FaultType, Is.EqualTo("InvalidArgument"));
        Assert.That(e.InvalidProperty, Is.EqualTo("startOffset"));
    }
}
