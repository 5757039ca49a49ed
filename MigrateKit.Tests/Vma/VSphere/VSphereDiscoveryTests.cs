using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Vma.VSphere;

/// <summary>Discovery against the govmomi simulator's VPX inventory plus the harness's fixture VMs.</summary>
[NonParallelizable] // one simulator process per fixture; tests change its inventory (NIC moves)
[Category(TestKind.Peer)]
public sealed class VSphereDiscoveryTests : VcSimFixture
{
    private static CancellationToken Ct => TestContext.CurrentContext.CancellationToken;

    [Test]
    public async Task DiscoversEveryVmOfTheSimulator()
    {
        await using var client = Sim.CreateClient();
        var vms = await client.DiscoverVmsAsync(Ct);

        // VPX: 2 VMs on the standalone host DC0_H0, 2 in cluster DC0_C0; plus mk-multi-disk, mk-lab and mk-legacy-hw4.
        Assert.That(vms.Select(v => v.Name), Is.EquivalentTo(new[]
        {
            "DC0_H0_VM0", "DC0_H0_VM1", "DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1", "mk-multi-disk", "mk-lab", "mk-legacy-hw4",
        }));
        Assert.That(vms.Select(v => v.Ref.Value).Distinct().Count(), Is.EqualTo(7));
        Assert.That(vms.Select(v => v.InstanceUuid).Distinct().Count(), Is.EqualTo(7));
        Assert.That(vms.All(v => !string.IsNullOrEmpty(v.InstanceUuid)));

        var vm0 = vms.Single(v => v.Name == "DC0_H0_VM0");
        Assert.Multiple(() =>
        {
            Assert.That(vm0.Ref.Type, Is.EqualTo("VirtualMachine"));
            Assert.That(vm0.InventoryPath, Is.EqualTo("/DC0/vm/DC0_H0_VM0"));
            Assert.That(vm0.PowerState, Is.EqualTo("poweredOn"));
            Assert.That(vm0.GuestId, Is.EqualTo("otherGuest"));
            Assert.That(vm0.Firmware, Is.EqualTo("bios"));
            Assert.That(vm0.NumCpu, Is.EqualTo(1));
            Assert.That(vm0.MemoryMb, Is.EqualTo(32));
            Assert.That(vm0.HardwareVersion, Is.EqualTo(13));
            Assert.That(vm0.ChangeTrackingEnabled, Is.False);
            Assert.That(vm0.Snapshots, Is.Empty);
            Assert.That(vm0.Disks, Has.Count.EqualTo(1));
            Assert.That(vm0.Nics, Has.Count.EqualTo(1));
        });
        var disk = vm0.Disks[0];
        Assert.Multiple(() =>
        {
            Assert.That(disk.CapacityBytes, Is.EqualTo(1024 * 1024));
            Assert.That(disk.FileName, Is.EqualTo("[LocalDS_0] DC0_H0_VM0/disk1.vmdk"));
            Assert.That(disk.DatastoreName, Is.EqualTo("LocalDS_0"));
            Assert.That(disk.ProvisioningType, Is.EqualTo("thin"));
            Assert.That(disk.UnitNumber, Is.EqualTo(0));
            Assert.That(disk.Label, Is.EqualTo("disk-202-0"));
            Assert.That(disk.ChangeId, Is.Null, "no CBT, no change id");
        });
        var nic = vm0.Nics[0];
        Assert.Multiple(() =>
        {
            Assert.That(nic.NetworkKind, Is.EqualTo(NetworkKind.DistributedPortgroup));
            Assert.That(nic.NetworkName, Is.EqualTo("DC0_DVPG0"));
            Assert.That(nic.Network?.Type, Is.EqualTo("DistributedVirtualPortgroup"));
            Assert.That(nic.MacAddress, Does.Match("^([0-9a-f]{2}:){5}[0-9a-f]{2}$"));
        });
    }

    [Test]
    public async Task DiscoveryMatchesTheSimulatorsOwnView()
    {
        await using var client = Sim.CreateClient();
        var discovered = await client.DiscoverVmsAsync(Ct);
        var truth = await Sim.InventoryAsync(Ct);

        Assert.That(discovered.Select(v => (v.Ref.Value, v.Name, v.PowerState, v.ChangeTrackingEnabled)),
            Is.EquivalentTo(truth.Select(v => (v.Moref, v.Name, v.PowerState, v.ChangeTrackingEnabled))));
        foreach (var vm in discovered)
        {
            var t = truth.Single(x => x.Moref == vm.Ref.Value);
            Assert.That(vm.Disks.Select(d => d.DeviceKey), Is.EquivalentTo(t.DiskKeys), vm.Name);
            Assert.That(vm.Nics.Select(n => n.DeviceKey), Is.EquivalentTo(t.NicKeys), vm.Name);
            Assert.That(vm.Nics.Select(n => n.NetworkName), Has.None.Empty.And.None.EqualTo("unknown"), vm.Name);
        }
    }

    [Test]
    public async Task FixtureVmShowsEveryDiskAndNicDetail()
    {
        await using var client = Sim.CreateClient();
        var vm = (await client.DiscoverVmsAsync(Ct)).Single(v => v.Name == "mk-multi-disk");
        Assert.Multiple(() =>
        {
            Assert.That(vm.PowerState, Is.EqualTo("poweredOn"));
            Assert.That(vm.Firmware, Is.EqualTo("efi"));
            Assert.That(vm.GuestId, Is.EqualTo("ubuntu64Guest"));
            Assert.That(vm.NumCpu, Is.EqualTo(2));
            Assert.That(vm.MemoryMb, Is.EqualTo(2048));
            Assert.That(vm.InventoryPath, Is.EqualTo("/DC0/vm/mk-multi-disk"));
        });
        Assert.That(vm.Disks.Select(d => (d.FileName, d.CapacityBytes, d.ProvisioningType, d.UnitNumber)), Is.EqualTo(new[]
        {
            ("[LocalDS_0] mk-multi-disk/disk1.vmdk", 10L << 30, "thin", (int?)0),
            ("[LocalDS_0] mk-multi-disk/disk2.vmdk", 4L << 30, "thick", (int?)1),
            ("[LocalDS_0] mk-multi-disk/disk3.vmdk", 2L << 30, "eagerZeroedThick", (int?)2),
        }));
        Assert.That(vm.Disks.Select(d => d.ControllerKey).Distinct().Count(), Is.EqualTo(1), "all on the one pvscsi controller");
        Assert.That(vm.Disks.Select(d => d.DeviceKey).Distinct().Count(), Is.EqualTo(3));
        Assert.That(vm.Nics.Select(n => (n.DeviceType, n.NetworkKind, n.NetworkName)), Is.EqualTo(new[]
        {
            ("VirtualVmxnet3", NetworkKind.DistributedPortgroup, "DC0_DVPG0"),
            ("VirtualE1000", NetworkKind.Standard, "VM Network"),
        }));

        var legacy = await client.GetVmAsync(
            (await client.FindVmByInventoryPathAsync("/DC0/vm/mk-legacy-hw4", Ct))!.Value, Ct);
        Assert.Multiple(() =>
        {
            Assert.That(legacy.Name, Is.EqualTo("mk-legacy-hw4"));
            Assert.That(legacy.HardwareVersion, Is.EqualTo(4));
            Assert.That(legacy.PowerState, Is.EqualTo("poweredOff"));
        });
        Assert.That(await client.FindVmByInventoryPathAsync("/DC0/vm/no-such-vm", Ct), Is.Null);
    }

    [Test]
    public async Task NicMovedOntoAnotherDistributedPortGroupReportsThatGroupsName()
    {
        await using var client = Sim.CreateClient();
        var vm = (await client.DiscoverVmsAsync(Ct)).Single(v => v.Name == "DC0_H0_VM1");
        var nic = vm.Nics.Single();
        var target = (await client.RetrieveFromViewAsync(["DistributedVirtualPortgroup"],
            [("DistributedVirtualPortgroup", ["name", "key"])], Ct)).Single(p => p["name"]?.Value == "DC0_DVPG1");

        await VSphereTestSpecs.MoveNicAsync(client, vm.Ref, nic, w => w
            .Start("backing", "VirtualEthernetCardDistributedVirtualPortBackingInfo")
            .Start("port").Value("switchUuid", nic.SwitchUuid!).Value("portgroupKey", target["key"]!.Value).End()
            .End(), Ct);

        var moved = (await client.GetVmAsync(vm.Ref, Ct)).Nics.Single();
        Assert.Multiple(() =>
        {
            Assert.That(moved.DeviceKey, Is.EqualTo(nic.DeviceKey));
            Assert.That(moved.NetworkKind, Is.EqualTo(NetworkKind.DistributedPortgroup));
            Assert.That(moved.NetworkName, Is.EqualTo("DC0_DVPG1"));
            Assert.That(moved.Network, Is.EqualTo(target.Ref));
            Assert.That(moved.MacAddress, Is.EqualTo(nic.MacAddress));
        });
    }

    [Test]
    public async Task NicOnAnOpaqueNetworkReportsThatNetworksName()
    {
        await using var client = Sim.CreateClient();
        var vm = (await client.DiscoverVmsAsync(Ct)).Single(v => v.Name == "DC0_C0_RP0_VM1");
        var nic = vm.Nics.Single();
        var opaque = (await client.RetrieveFromViewAsync(["OpaqueNetwork"], [("OpaqueNetwork", ["name", "summary"])], Ct)).Single();
        var id = opaque["summary"].Text("opaqueNetworkId")!;
        var type = opaque["summary"].Text("opaqueNetworkType")!;

        await VSphereTestSpecs.MoveNicAsync(client, vm.Ref, nic, w => w
            .Start("backing", "VirtualEthernetCardOpaqueNetworkBackingInfo")
            .Value("opaqueNetworkId", id).Value("opaqueNetworkType", type)
            .End(), Ct);

        var moved = (await client.GetVmAsync(vm.Ref, Ct)).Nics.Single();
        Assert.Multiple(() =>
        {
            Assert.That(moved.NetworkKind, Is.EqualTo(NetworkKind.Opaque));
            Assert.That(moved.NetworkName, Is.EqualTo("DC0_NSX0"));
            Assert.That(moved.Network, Is.EqualTo(opaque.Ref));
        });
    }
}
