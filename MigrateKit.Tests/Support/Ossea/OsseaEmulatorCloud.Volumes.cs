using System.Text.Json.Nodes;

namespace MigrateKit.Tests.Support.Ossea;

internal sealed partial class OsseaEmulatorCloud
{
    // ---------------------------------------------------------------- volumes

    private JsonObject CreateVolume(OsseaEmulatorParams p)
    {
        EmVolume volume;
        lock (_gate)
        {
            var offering = p.Entity("diskofferingid", id => _diskOfferings.GetValueOrDefault(id), required: false);
            if (offering is null && p.Optional("snapshotid") is null)
            {
                throw EmulatorApiError.Param("At least one of disk Offering ID or snapshot ID must be passed whilst creating volume");
            }

            if (offering is null)
            {
                throw EmulatorApiError.Param("The emulator creates volumes from disk offerings only.");
            }

            var zone = p.Entity("zoneid", id => _zones.GetValueOrDefault(id), required: false)
                ?? throw EmulatorApiError.Param("Please specify a zone id when creating a new volume.");
            var sizeGb = p.Long("size");
            if (offering.IsCustomized && sizeGb is null)
            {
                throw EmulatorApiError.Param("This disk offering requires a custom size specified");
            }

            if (!offering.IsCustomized && sizeGb is not null)
            {
                throw EmulatorApiError.Param("This disk offering does not allow custom size");
            }

            var size = sizeGb ?? offering.DiskSizeGb;
            if (size < 1 || size > _options.MaxVolumeSizeGb)
            {
                throw EmulatorApiError.Param(
                    $"Volume size: {size}GB is out of allowed range. Max: {_options.MaxVolumeSizeGb} Min:1");
            }

            volume = NewVolume(p.Optional("name") ?? $"volume-{_volumeNumber + 1}", zone, offering, size * Gb);
        }

        var job = StartJob(p.Command, "Volume", volume.Id, null, () =>
        {
            lock (_gate)
            {
                return new JsonObject { ["volume"] = volume.ToJson() };
            }
        });
        return new JsonObject { ["id"] = volume.Id, ["jobid"] = job.Id };
    }

    private JsonObject AttachVolume(OsseaEmulatorParams p)
    {
        EmVolume volume;
        EmVirtualMachine vm;
        lock (_gate)
        {
            volume = p.Entity("id", LiveVolume);
            vm = p.Entity("virtualmachineid", LiveVm);
        }

        var deviceId = p.Long("deviceid");
        var job = StartJob(p.Command, "Volume", volume.Id, vm.Id, () =>
        {
            string serial;
            lock (_gate)
            {
                if (volume.Removed)
                {
                    throw EmulatorApiError.Param($"Volume {volume.Id} no longer exists.");
                }

                if (volume.Busy || volume.State is not ("Allocated" or "Ready"))
                {
                    throw EmulatorApiError.Internal($"Volume: {volume.Name} is in {(volume.Attaching ? "Attaching" : volume.State)}. It should be in Ready or Allocated state");
                }

                if (volume.Vm is not null)
                {
                    // VolumeApiServiceImpl.checkAndSetAttaching throws CloudRuntimeException → the job fails with 530.
                    throw EmulatorApiError.Internal($"volume: {volume.Name} is already attached to a VM: {volume.Vm.Name}");
                }

                if (vm.State is not ("Running" or "Stopped"))
                {
                    throw EmulatorApiError.Param("Please specify a VM that is either running or stopped.");
                }

                var chosen = ChooseDeviceId(vm, deviceId);
                AttachRecord(volume, vm, chosen);
                if (chosen == 0)
                {
                    volume.Type = "ROOT";
                }

                if (vm.State == "Running")
                {
                    volume.State = "Ready";
                }

                // Until the device exists the volume shows as Attaching without a VM, as in ACS
                // (instanceId is written once the host has attached the disk).
                volume.Busy = true;
                volume.Attaching = true;
                serial = Serial(volume.Id);
            }

            if (vm == OmaVm)
            {
                try
                {
                    _devices.Expose(volume.Id, serial);
                }
                catch (Exception ex) when (ex is InvalidOperationException or IOException)
                {
                    lock (_gate)
                    {
                        DetachRecord(volume);
                        volume.Busy = false;
                        volume.Attaching = false;
                    }

                    throw EmulatorApiError.Internal($"Failed to attach volume {volume.Name} to VM {vm.Name}: {ex.Message}");
                }
            }

            lock (_gate)
            {
                volume.Busy = false;
                volume.Attaching = false;
                return new JsonObject { ["volume"] = volume.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    /// <summary>ACS getDeviceId: explicit ids are range-checked; automatic is the lowest free in 1..max, 3 skipped (CD-ROM).</summary>
    private long ChooseDeviceId(EmVirtualMachine vm, long? requested)
    {
        var maxDeviceId = _options.MaxDataVolumes + 1L;
        var attached = _volumes.Values.Where(v => !v.Removed && v.Vm == vm).ToList();
        var used = attached.Select(v => v.DeviceId ?? -1).ToHashSet();
        if (requested is { } explicitId)
        {
            if (explicitId == 0)
            {
                if (vm.State != "Stopped")
                {
                    throw EmulatorApiError.Param("Root volume can be attached only to a stopped VM.");
                }

                if (used.Contains(0))
                {
                    throw EmulatorApiError.Param($"Vm {vm.Name} already has a root volume attached to it");
                }

                return 0;
            }

            if (explicitId < 0 || explicitId == 3 || explicitId > maxDeviceId)
            {
                throw EmulatorApiError.Param($"deviceId should be 0,1,2,4-{maxDeviceId}");
            }

            if (used.Contains(explicitId))
            {
                throw EmulatorApiError.Param($"deviceId {explicitId} is used by vm {vm.Name}");
            }

            return explicitId;
        }

        if (attached.Count(v => v.Type == "DATADISK") >= _options.MaxDataVolumes)
        {
            throw EmulatorApiError.Param(
                $"The specified VM already has the maximum number of data disks ({_options.MaxDataVolumes}) attached. Please specify another VM.");
        }

        for (long id = 1; id <= maxDeviceId; id++)
        {
            if (id != 3 && !used.Contains(id))
            {
                return id;
            }
        }

        throw EmulatorApiError.Param(
            $"The specified VM already has the maximum number of data disks ({_options.MaxDataVolumes}) attached. Please specify another VM.");
    }

    private JsonObject DetachVolume(OsseaEmulatorParams p)
    {
        EmVolume volume;
        lock (_gate)
        {
            var id = p.Optional("id");
            var deviceId = p.Long("deviceid");
            var vmId = p.Optional("virtualmachineid");
            if (id is null && (deviceId is null || vmId is null))
            {
                throw EmulatorApiError.Param("Please provide either a volume id, or a tuple(device id, instance id)");
            }

            if (id is not null)
            {
                volume = p.Entity("id", LiveVolume);
            }
            else
            {
                var vm = p.Entity("virtualmachineid", LiveVm);
                volume = _volumes.Values.FirstOrDefault(v => !v.Removed && v.Vm == vm && v.DeviceId == deviceId)
                    ?? throw EmulatorApiError.Param($"Unable to find volume with device id {deviceId} on VM {vm.Name}");
            }
        }

        var queueVm = VolumeVmId(volume);
        var job = StartJob(p.Command, "Volume", volume.Id, queueVm, () =>
        {
            EmVirtualMachine vm;
            lock (_gate)
            {
                vm = volume.Vm ?? throw EmulatorApiError.Param("Please specify a volume that is attached to a VM.");
                if (volume.Busy)
                {
                    throw EmulatorApiError.Param($"Volume {volume.Name} is busy with another operation.");
                }

                if (volume.DeviceId == 0 && vm.State != "Stopped")
                {
                    throw EmulatorApiError.Param("Root volume detach is allowed only when the VM is stopped.");
                }

                volume.Busy = true;
            }

            try
            {
                if (vm == OmaVm)
                {
                    _devices.Withdraw(volume.Id);
                }
            }
            catch (InvalidOperationException ex)
            {
                lock (_gate)
                {
                    volume.Busy = false;
                }

                throw EmulatorApiError.Internal(
                    $"Could not detach volume {volume.Name}: the device is busy ({ex.Message})");
            }

            lock (_gate)
            {
                DetachRecord(volume);
                volume.Busy = false;
                return new JsonObject { ["volume"] = volume.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private JsonObject DeleteVolume(OsseaEmulatorParams p)
    {
        lock (_gate)
        {
            var volume = p.Entity("id", LiveVolume);
            if (volume.Vm is not null || volume.Busy)
            {
                throw EmulatorApiError.Param("Please specify a volume that is not attached to any VM.");
            }

            volume.Removed = true;
            volume.State = "Expunged";
            File.Delete(_devices.VolumeFile(volume.Id));
            return new JsonObject { ["success"] = true };
        }
    }

    private JsonObject ResizeVolume(OsseaEmulatorParams p)
    {
        EmVolume volume;
        lock (_gate)
        {
            volume = p.Entity("id", LiveVolume);
        }

        var sizeGb = p.Long("size");
        var shrinkOk = p.Bool("shrinkok", false);
        var job = StartJob(p.Command, "Volume", volume.Id, VolumeVmId(volume), () =>
        {
            lock (_gate)
            {
                if (volume.DiskOffering is { IsCustomized: false })
                {
                    throw EmulatorApiError.Param("Only volumes of a customized disk offering can be resized with a new size.");
                }

                var newSize = (sizeGb ?? throw EmulatorApiError.Param("New size is required")) * Gb;
                if (sizeGb < 1 || sizeGb > _options.MaxVolumeSizeGb)
                {
                    throw EmulatorApiError.Param($"Volume size: {sizeGb}GB is out of allowed range. Max: {_options.MaxVolumeSizeGb} Min:1");
                }

                if (newSize < volume.SizeBytes && !shrinkOk)
                {
                    throw EmulatorApiError.Param(
                        $"Going from existing size of {volume.SizeBytes} to size of {newSize} would shrink the volume. " +
                        "Need to sign off by supplying the shrinkok parameter with value of true.");
                }

                _devices.Resize(volume.Id, newSize);
                volume.SizeBytes = newSize;
                return new JsonObject { ["volume"] = volume.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }
}
