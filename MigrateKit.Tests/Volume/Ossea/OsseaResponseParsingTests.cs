using System.Text.Json;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Volume.Ossea;

/// <summary>The client's JSON models over real captured bodies (libcloud and marvin fixtures).</summary>
[Parallelizable(ParallelScope.All)]
[Category(TestKind.Unit)]
public sealed class OsseaResponseParsingTests
{
    private static JsonElement Envelope(string file, string command)
    {
        using var document = OsseaFixtures.Parse(file);
        Assert.That(OsseaResponseReader.TryGetEnvelope(document.RootElement, command, out var envelope), Is.True, file);
        return envelope.Clone();
    }

    private static OsseaAsyncJob Job(string file) => OsseaResponseReader.ReadJob(Envelope(file, "queryAsyncJobResult"));

    [Test]
    public void CreateVolumeAnswerCarriesTheNewIdAndTheJob()
    {
        var start = OsseaResponseReader.ReadAsyncStart(Envelope("libcloud-fixtures/createVolume_default.json", "createVolume"));
        Assert.That(start.Id, Is.EqualTo("60338035-92fb-4d27-98d4-b60ad4b38b87"));
        Assert.That(start.JobId, Is.EqualTo("createvolumejob"));
        Assert.That(OsseaVolumeSerial.FromVolumeId(start.Id!), Is.EqualTo("6033803592fb4d2798d4"));
    }

    [Test]
    public void AttachVolumeAnswerIsAJobId()
    {
        var start = OsseaResponseReader.ReadAsyncStart(Envelope("libcloud-fixtures/attachVolume_default.json", "attachVolume"));
        Assert.That(start.JobId, Is.EqualTo("attachvolumejob"));
        Assert.That(start.Id, Is.Null);
    }

    [Test]
    public void IntegerIdsOfOldServersReadAsStrings()
    {
        var start = OsseaResponseReader.ReadAsyncStart(Envelope("libcloud-fixtures/deployVirtualMachine_deployfail2.json", "deployVirtualMachine"));
        Assert.That(start.JobId, Is.EqualTo("17177"));
        Assert.That(start.Id, Is.EqualTo("2602"));
    }

    [Test]
    public void DeployFailureIsAnErrorBody()
    {
        using var document = OsseaFixtures.Parse("libcloud-fixtures/deployVirtualMachine_deployfail.json");
        Assert.That(OsseaResponseReader.TryReadError(document.RootElement, out var error), Is.True);
        Assert.That(error.ErrorCode, Is.EqualTo(431));
        Assert.That(error.CsErrorCode, Is.Null);
        Assert.That(error.ErrorText, Is.EqualTo("Unable to find service offering: 104"));
    }

    [Test]
    public void ErrorBodyWithUuidListParses()
    {
        using var document = OsseaFixtures.Parse("libcloud-fixtures/registerSSHKeyPair_error.json");
        Assert.That(OsseaResponseReader.TryReadError(document.RootElement, out var error), Is.True);
        Assert.That((error.ErrorCode, error.ErrorText), Is.EqualTo((431, "Public key is invalid")));
    }

    [Test]
    public void FailedDeployJobWithoutResultIsFailed()
    {
        var job = Job("libcloud-fixtures/queryAsyncJobResult_17177.json");
        Assert.That(job.Status, Is.EqualTo(OsseaJobStatus.Failed));
        Assert.That(job.JobResult, Is.Null);
        Assert.That(OsseaResponseReader.ReadJobError(job).ErrorText, Is.Null);
    }

    [Test]
    public void CreateVolumeJobResultIsAnAllocatedVolume()
    {
        var job = Job("libcloud-fixtures/queryAsyncJobResult_createvolumejob.json");
        Assert.That(job.Status, Is.EqualTo(OsseaJobStatus.Succeeded));
        Assert.That(job.JobId, Is.EqualTo("35416f6d-1b5b-4ceb-a7d4-aab0deede71b"));
        var volume = OsseaResponseReader.ReadObject<OsseaVolume>(job.JobResult!.Value, "volume");
        Assert.Multiple(() =>
        {
            Assert.That(volume.Id, Is.EqualTo("60338035-92fb-4d27-98d4-b60ad4b38b87"));
            Assert.That(volume.State, Is.EqualTo("Allocated"));
            Assert.That(volume.Type, Is.EqualTo("DATADISK"));
            Assert.That(volume.Size, Is.EqualTo(10737418240L));
            Assert.That(volume.Hypervisor, Is.EqualTo("None"));
            Assert.That(volume.VirtualMachineId, Is.Null);
            Assert.That(volume.DeviceId, Is.Null);
            Assert.That(OsseaJson.ParseDate(volume.Created), Is.EqualTo(new DateTimeOffset(2012, 6, 5, 8, 47, 54, TimeSpan.FromHours(2))));
        });
    }

    [Test]
    public void AttachVolumeJobResultHasDeviceAndVm()
    {
        var volume = OsseaResponseReader.ReadObject<OsseaVolume>(
            Job("libcloud-fixtures/queryAsyncJobResult_attachvolumejob.json").JobResult!.Value, "volume");
        Assert.Multiple(() =>
        {
            Assert.That(volume.DeviceId, Is.EqualTo(5));
            Assert.That(volume.VirtualMachineId, Is.EqualTo("ab2c18f6-00a6-43f8-9fe0-efecb3165dd7"));
            Assert.That(volume.VmState, Is.EqualTo("Running"));
            Assert.That(volume.State, Is.EqualTo("Ready"));
            Assert.That(volume.Hypervisor, Is.EqualTo("KVM"));
        });
    }

    [Test]
    public void DetachVolumeJobResultHasNoVm()
    {
        var volume = OsseaResponseReader.ReadObject<OsseaVolume>(
            Job("libcloud-fixtures/queryAsyncJobResult_detachvolumejob.json").JobResult!.Value, "volume");
        Assert.That(volume.VirtualMachineId, Is.Null);
        Assert.That(volume.State, Is.EqualTo("Ready"));
    }

    [Test]
    public void ListVolumesReadsTheRootVolume()
    {
        var volumes = OsseaResponseReader.ReadList<OsseaVolume>(Envelope("libcloud-fixtures/listVolumes_default.json", "listVolumes"), "volume");
        Assert.That(volumes, Has.Count.EqualTo(1));
        Assert.That((volumes[0].Type, volumes[0].DeviceId, volumes[0].VmState), Is.EqualTo(("ROOT", (long?)0, "Stopped")));
    }

    [Test]
    public void ListWithoutCountAndWithIntegerIdsReads()
    {
        var envelope = Envelope("libcloud-fixtures/listVirtualMachines_default.json", "listVirtualMachines");
        var vms = OsseaResponseReader.ReadList<OsseaVirtualMachine>(envelope, "virtualmachine");
        Assert.That(OsseaResponseReader.ReadCount(envelope), Is.Null);
        Assert.That(vms.Select(v => v.Id), Is.EqualTo(new[] { "2600", "2601" }));
        Assert.That(vms[0].Nic.Single().NetworkId, Is.EqualTo("860"));
    }

    [Test]
    public void EmptyListBodyIsAnEmptyList()
    {
        using var document = OsseaFixtures.Parse("marvin_jsonHelper_examples.json");
        var body = document.RootElement.GetProperty("empty_list_response");
        Assert.That(OsseaResponseReader.TryGetEnvelope(body, "listTemplates", out var envelope), Is.True);
        Assert.That(OsseaResponseReader.ReadList<OsseaVolume>(envelope, "template"), Is.Empty);
    }

    [Test]
    public void MarvinFailedJobCarriesTheInnerErrorCode()
    {
        using var document = OsseaFixtures.Parse("marvin_jsonHelper_examples.json");
        var body = document.RootElement.GetProperty("failed_async_job");
        Assert.That(OsseaResponseReader.TryGetEnvelope(body, "queryAsyncJobResult", out var envelope), Is.True);
        var job = OsseaResponseReader.ReadJob(envelope);
        var error = OsseaResponseReader.ReadJobError(job);
        Assert.That(job.Status, Is.EqualTo(OsseaJobStatus.Failed));
        Assert.That(error.ErrorCode, Is.EqualTo(431));
        Assert.That(error.ErrorText, Is.EqualTo("Please provide either a volume id, or a tuple(device id, instance id)"));
    }

    [TestCase("libcloud-fixtures/deleteVolume_default.json", "deleteVolume")] // "success":"true"
    [TestCase("cloudstack-go-testdata/DiskOfferingService.json", "deleteDiskOffering")] // "success":true
    public void SuccessAsStringOrBoolean(string file, string command)
    {
        using var document = OsseaFixtures.Parse(file);
        var root = document.RootElement.TryGetProperty(command, out var wrapped) ? wrapped : document.RootElement;
        Assert.That(OsseaResponseReader.TryGetEnvelope(root, command, out var envelope), Is.True);
        Assert.That(OsseaResponseReader.ReadSuccess(envelope), Is.True);
    }

    [Test]
    public void DeleteSnapshotJobIsSuccess()
        => Assert.That(OsseaResponseReader.ReadSuccess(Job("libcloud-fixtures/queryAsyncJobResult_1300002.json").JobResult!.Value), Is.True);

    [Test]
    public void SnapshotJobResultParses()
    {
        var snapshot = OsseaResponseReader.ReadObject<OsseaSnapshot>(
            Job("libcloud-fixtures/queryAsyncJobResult_1300001.json").JobResult!.Value, "snapshot");
        Assert.That((snapshot.Id, snapshot.State, snapshot.VolumeId), Is.EqualTo(("190547", "CreatedOnPrimary", "fe1ada16-57a0-40ae-b577-01a153690fb4")));
    }

    [Test]
    public void DeployJobResultIsRecordedWithoutThePassword()
    {
        var job = Job("libcloud-fixtures/queryAsyncJobResult_deployvmwithid.json");
        var vm = OsseaResponseReader.ReadObject<OsseaVirtualMachine>(job.JobResult!.Value, "virtualmachine");
        Assert.That(vm.Nic.Select(n => n.MacAddress), Is.EqualTo(new[] { "02:00:78:4a:01:9e", "06:e6:50:00:70:0e" }));
        var recorded = OsseaJobRunner.SanitizedResult(job)!;
        Assert.That(recorded, Does.Not.Contain("password"));
        Assert.That(recorded, Does.Contain("deployip"));
    }

    [Test]
    public void CloudStackGoVmShapesParse()
    {
        using var document = OsseaFixtures.Parse("cloudstack-go-testdata/VirtualMachineService.json");
        var stop = document.RootElement.GetProperty("stopVirtualMachine");
        Assert.That(OsseaResponseReader.TryGetEnvelope(stop, "stopVirtualMachine", out var envelope), Is.True);
        var job = OsseaResponseReader.ReadJob(envelope);
        var vm = OsseaResponseReader.ReadObject<OsseaVirtualMachine>(job.JobResult!.Value, "virtualmachine");
        Assert.That((vm.Id, vm.State), Is.EqualTo(("915653c4-298b-4d74-bdee-4ced282114f1", "Stopped")));

        var list = document.RootElement.GetProperty("listVirtualMachines");
        Assert.That(OsseaResponseReader.TryGetEnvelope(list, "listVirtualMachines", out var listEnvelope), Is.True);
        var vms = OsseaResponseReader.ReadList<OsseaVirtualMachine>(listEnvelope, "virtualmachine");
        Assert.That(vms.Single().Details!["Message.ReservedCapacityFreed.Flag"], Is.EqualTo("false"));
    }

    [Test]
    public void ListZonesWithoutCount()
    {
        var zones = OsseaResponseReader.ReadList<OsseaZone>(Envelope("libcloud-fixtures/listZones_default.json", "listZones"), "zone");
        Assert.That((zones.Single().Id, zones.Single().Name), Is.EqualTo(("1", "Sydney")));
    }

    [Test]
    public void OfferingsAndNetworksParse()
    {
        var disk = OsseaResponseReader.ReadList<OsseaDiskOffering>(
            Envelope("libcloud-fixtures/listDiskOfferings_withcustomdisksize.json", "listDiskOfferings"), "diskoffering").Single();
        Assert.That((disk.DiskSize, disk.IsCustomized), Is.EqualTo((10L, true)));
        var service = OsseaResponseReader.ReadList<OsseaServiceOffering>(
            Envelope("libcloud-fixtures/listServiceOfferings_default.json", "listServiceOfferings"), "serviceoffering");
        Assert.That(service, Has.Count.EqualTo(5));
        var network = OsseaResponseReader.ReadList<OsseaNetwork>(
            Envelope("libcloud-fixtures/listNetworks_default.json", "listNetworks"), "network").Single();
        Assert.That((network.CanUseForDeploy, network.Type), Is.EqualTo((true, "Shared")));
    }
}
