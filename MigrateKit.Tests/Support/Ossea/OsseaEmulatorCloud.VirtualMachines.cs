using System.Text.Json.Nodes;

namespace MigrateKit.Tests.Support.Ossea;

internal sealed partial class OsseaEmulatorCloud
{
    // ---------------------------------------------------------------- virtual machines

    private JsonObject DeployVirtualMachine(OsseaEmulatorParams p)
    {
        EmVirtualMachine vm;
        var startVm = p.Bool("startvm", true);
        lock (_gate)
        {
            var offering = p.Entity("serviceofferingid", id => _serviceOfferings.GetValueOrDefault(id));
            var zone = p.Entity("zoneid", id => _zones.GetValueOrDefault(id));
            var template = p.Entity("templateid", id => _templates.GetValueOrDefault(id));
            var diskOffering = p.Entity("diskofferingid", id => _diskOfferings.GetValueOrDefault(id), required: false);
            var rootDiskSizeGb = p.Long("rootdisksize");
            var name = p.Optional("name") ?? $"VM-{Guid.NewGuid()}";
            if (!HostName().IsMatch(name))
            {
                throw EmulatorApiError.Param(
                    "Invalid name. Vm name can contain ASCII letters 'a' through 'z', the digits '0' through '9', and the hyphen ('-'), must be between 1 and 63 characters long, and can't start or end with \"-\" and can't start with digit");
            }

            if (_vms.Values.Any(v => !v.Expunged && v.Name.Equals(name, StringComparison.OrdinalIgnoreCase)))
            {
                throw EmulatorApiError.Param($"The vm with hostName {name} already exists in the network domain: cs2cloud.internal; network=migration-net");
            }

            var nicRequests = new List<(EmNetwork Network, string? Ip, string? Mac)>();
            var networkIds = p.Optional("networkids");
            var ipToNetwork = p.Map("iptonetworklist");
            if (networkIds is not null && ipToNetwork.Count > 0)
            {
                throw EmulatorApiError.Param("ipToNetworkMap can't be specified along with networkIds or ipAddress");
            }

            foreach (var id in networkIds?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [])
            {
                nicRequests.Add((_networks.GetValueOrDefault(id) ?? throw p.InvalidValue("networkids", id), null, null));
            }

            foreach (var entry in ipToNetwork.Values)
            {
                var networkId = entry.GetValueOrDefault("networkid") ?? throw EmulatorApiError.Param("Network id is required in iptonetworklist");
                nicRequests.Add((_networks.GetValueOrDefault(networkId) ?? throw p.InvalidValue("iptonetworklist", networkId),
                    entry.GetValueOrDefault("ip"), entry.GetValueOrDefault("mac")));
            }

            if (nicRequests.Count == 0)
            {
                throw EmulatorApiError.Param("Can't create vm without specifying a network: networkids or iptonetworklist is required by the emulated advanced zone.");
            }

            var defaultMac = p.Optional("macaddress");
            if (defaultMac is not null && nicRequests[0].Mac is null)
            {
                nicRequests[0] = nicRequests[0] with { Mac = defaultMac };
            }

            foreach (var (_, _, mac) in nicRequests)
            {
                if (mac is not null && !MacAddress().IsMatch(mac))
                {
                    throw EmulatorApiError.Param($"Mac address is not valid: {mac}");
                }
            }

            if (rootDiskSizeGb is < 1)
            {
                throw EmulatorApiError.Param("Root disk size should be a positive number.");
            }

            var details = p.Map("details").Values.SelectMany(e => e).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            if (offering.IsCustomized)
            {
                // ACS UserVmManagerImpl.validateCustomParameters: a customized offering's missing values come from details.
                if (!details.ContainsKey("cpuNumber") || !details.ContainsKey("cpuSpeed") || !details.ContainsKey("memory"))
                {
                    throw EmulatorApiError.Param("Need to specify custom parameter values cpu, cpu speed and memory when using custom offering");
                }

                foreach (var key in new[] { "cpuNumber", "cpuSpeed", "memory" })
                {
                    if (!int.TryParse(details[key], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) || value < 1)
                    {
                        throw EmulatorApiError.Param($"Invalid {key} value {details[key]}: specify a positive integer");
                    }
                }
            }

            if (nicRequests.Select(n => n.Network).Distinct().Count() != nicRequests.Count)
            {
                // The emulator's choice (not verified against ACS): one NIC per network.
                throw EmulatorApiError.Param("A network can be given only once per VM.");
            }

            vm = NewVm(name, p.Optional("displayname") ?? name, zone, template, offering, "Stopped");
            for (var i = 0; i < nicRequests.Count; i++)
            {
                var (network, ip, mac) = nicRequests[i];
                if (_vms.Values.Any(v => !v.Expunged && v != vm && v.Nics.Any(n => n.MacAddress.Equals(mac, StringComparison.OrdinalIgnoreCase))))
                {
                    throw EmulatorApiError.Param($"The mac address {mac} is already in use in network {network.Name}");
                }

                vm.Nics.Add(NewNic(network, ip, mac, isDefault: i == 0));
            }

            foreach (var (key, value) in details)
            {
                vm.Details[key] = value;
            }

            var root = NewVolume($"ROOT-{vm.Number}", zone, null, (rootDiskSizeGb * Gb) ?? template.SizeBytes);
            root.Type = "ROOT";
            AttachRecord(root, vm, 0);
            if (diskOffering is not null)
            {
                var sizeGb = p.Long("size") ?? (diskOffering.IsCustomized
                    ? throw EmulatorApiError.Param("This disk offering requires a custom size specified")
                    : diskOffering.DiskSizeGb);
                var data = NewVolume($"DATA-{vm.Number}", zone, diskOffering, sizeGb * Gb);
                AttachRecord(data, vm, 1);
            }
        }

        var job = StartJob(p.Command, "VirtualMachine", vm.Id, vm.Id, () =>
        {
            lock (_gate)
            {
                if (startVm)
                {
                    Start(vm);
                }

                return new JsonObject { ["virtualmachine"] = vm.ToJson() };
            }
        }, onFailure: () =>
        {
            lock (_gate)
            {
                vm.State = "Error";
            }
        });
        return new JsonObject { ["id"] = vm.Id, ["jobid"] = job.Id };
    }

    private JsonObject StartVirtualMachine(OsseaEmulatorParams p)
    {
        EmVirtualMachine vm;
        lock (_gate)
        {
            vm = p.Entity("id", LiveVm);
        }

        var job = StartJob(p.Command, "VirtualMachine", vm.Id, vm.Id, () =>
        {
            lock (_gate)
            {
                if (vm.State == "Running")
                {
                    throw EmulatorApiError.Param($"VM {vm.Name} is already running");
                }

                if (vm.State != "Stopped")
                {
                    throw EmulatorApiError.Param($"VM {vm.Name} is in state {vm.State} and cannot be started");
                }

                Start(vm);
                return new JsonObject { ["virtualmachine"] = vm.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private JsonObject StopVirtualMachine(OsseaEmulatorParams p)
    {
        EmVirtualMachine vm;
        lock (_gate)
        {
            vm = p.Entity("id", LiveVm);
        }

        p.Bool("forced", false);
        var job = StartJob(p.Command, "VirtualMachine", vm.Id, vm.Id, () =>
        {
            lock (_gate)
            {
                if (vm.State is not ("Running" or "Stopped"))
                {
                    throw EmulatorApiError.Param($"VM {vm.Name} is in state {vm.State} and cannot be stopped");
                }

                vm.State = "Stopped";
                return new JsonObject { ["virtualmachine"] = vm.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private JsonObject DestroyVirtualMachine(OsseaEmulatorParams p)
    {
        EmVirtualMachine vm;
        lock (_gate)
        {
            vm = p.Entity("id", LiveVm);
            if (vm == OmaVm)
            {
                throw EmulatorApiError.Param("The emulator refuses to destroy the OMA appliance VM.");
            }
        }

        var expunge = p.Bool("expunge", false);
        var job = StartJob(p.Command, "VirtualMachine", vm.Id, vm.Id, () =>
        {
            lock (_gate)
            {
                var attached = _volumes.Values.Where(v => !v.Removed && v.Vm == vm).ToList();
                vm.State = expunge ? "Expunging" : "Destroyed";
                var result = new JsonObject { ["virtualmachine"] = vm.ToJson() };
                if (expunge)
                {
                    // Expunge removes the ROOT disk with its data; data disks are detached and stay.
                    foreach (var volume in attached)
                    {
                        DetachRecord(volume);
                        if (volume.Type == "ROOT")
                        {
                            volume.Removed = true;
                            volume.State = "Expunged";
                            File.Delete(_devices.VolumeFile(volume.Id));
                        }
                    }

                    vm.Expunged = true;
                }
                else
                {
                    foreach (var volume in attached.Where(v => v.Type == "ROOT"))
                    {
                        volume.State = "Destroy";
                    }
                }

                return result;
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private void Start(EmVirtualMachine vm)
    {
        var volumes = _volumes.Values.Where(v => !v.Removed && v.Vm == vm).ToList();
        if (!volumes.Any(v => v.DeviceId == 0))
        {
            throw EmulatorApiError.Internal($"Unable to start VM {vm.Name}: it has no ROOT volume (device id 0) attached");
        }

        foreach (var volume in volumes)
        {
            volume.State = "Ready";
        }

        vm.State = "Running";
    }
}
