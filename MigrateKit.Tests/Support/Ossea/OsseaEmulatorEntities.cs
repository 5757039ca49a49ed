using System.Globalization;
using System.Text.Json.Nodes;

namespace MigrateKit.Tests.Support.Ossea;

/// <summary>An error the emulator answers with, as ACS does: HTTP status = errorcode.</summary>
internal sealed class EmulatorApiError(int code, int csErrorCode, string text) : Exception(text)
{
    public int Code { get; } = code;

    public int CsErrorCode { get; } = csErrorCode;

    public string Text { get; } = text;

    /// <summary>InvalidParameterValueException → 431 / 4350.</summary>
    public static EmulatorApiError Param(string text) => new(431, 4350, text);

    /// <summary>CloudRuntimeException → 530 / 4250.</summary>
    public static EmulatorApiError Internal(string text) => new(530, 4250, text);
}

// Mutable entities, guarded by the cloud's lock. Shapes follow the fixtures
// (../shared/fixtures/cloudstack): libcloud's volume objects, cloudstack-go's VM and job objects.

internal sealed class EmZone
{
    public required string Id { get; init; }
    public required string Name { get; init; }

    public JsonObject ToJson() => new()
    {
        ["id"] = Id, ["name"] = Name, ["networktype"] = "Advanced", ["securitygroupsenabled"] = false,
        ["allocationstate"] = "Enabled", ["localstorageenabled"] = false, ["dns1"] = "10.0.0.53",
    };
}

internal sealed class EmDiskOffering
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public long DiskSizeGb { get; init; }
    public bool IsCustomized { get; init; }

    public JsonObject ToJson(string created) => new()
    {
        ["id"] = Id, ["name"] = Name, ["displaytext"] = Name, ["disksize"] = DiskSizeGb, ["created"] = created,
        ["iscustomized"] = IsCustomized, ["storagetype"] = "shared", ["provisioningtype"] = "thin", ["displayoffering"] = true,
    };
}

internal sealed class EmServiceOffering
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public int CpuNumber { get; init; }
    public int Memory { get; init; }

    /// <summary>A customized offering fixes neither CPU nor memory: deploy takes them from <c>details</c>.</summary>
    public bool IsCustomized { get; init; }

    public JsonObject ToJson(string created)
    {
        var json = new JsonObject
        {
            ["id"] = Id, ["name"] = Name, ["displaytext"] = Name, ["created"] = created, ["storagetype"] = "shared",
            ["provisioningtype"] = "thin", ["offerha"] = false, ["iscustomized"] = IsCustomized, ["issystem"] = false, ["rootdisksize"] = 0,
        };
        if (!IsCustomized)
        {
            // ACS leaves cpunumber/cpuspeed/memory out of a customized offering's response (they are null).
            json["cpunumber"] = CpuNumber;
            json["cpuspeed"] = 2000;
            json["memory"] = Memory;
        }

        return json;
    }
}

internal sealed class EmNetwork
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required EmZone Zone { get; init; }
    public required string Cidr { get; init; }
    public required string Gateway { get; init; }
    public int NextHost { get; set; } = 10;

    public JsonObject ToJson() => new()
    {
        ["id"] = Id, ["name"] = Name, ["displaytext"] = Name, ["broadcastdomaintype"] = "Vlan", ["traffictype"] = "Guest",
        ["gateway"] = Gateway, ["netmask"] = "255.255.255.0", ["cidr"] = Cidr, ["zoneid"] = Zone.Id, ["zonename"] = Zone.Name,
        ["state"] = "Implemented", ["type"] = "Isolated", ["acltype"] = "Account", ["account"] = "admin", ["domain"] = "ROOT",
        ["issystem"] = false, ["canusefordeploy"] = true, ["related"] = Id,
    };
}

internal sealed class EmTemplate
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public long SizeBytes { get; init; }
}

internal sealed class EmNic
{
    public required string Id { get; init; }
    public required EmNetwork Network { get; init; }
    public required string IpAddress { get; init; }
    public required string MacAddress { get; init; }
    public bool IsDefault { get; init; }

    public JsonObject ToJson() => new()
    {
        ["id"] = Id, ["networkid"] = Network.Id, ["networkname"] = Network.Name, ["netmask"] = "255.255.255.0",
        ["gateway"] = Network.Gateway, ["ipaddress"] = IpAddress, ["isolationuri"] = "vlan://1994", ["broadcasturi"] = "vlan://1994",
        ["traffictype"] = "Guest", ["type"] = "Isolated", ["isdefault"] = IsDefault, ["macaddress"] = MacAddress,
        ["secondaryip"] = new JsonArray(), ["extradhcpoption"] = new JsonArray(),
    };
}

internal sealed class EmVirtualMachine
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string DisplayName { get; init; }
    public required int Number { get; init; }
    public required EmZone Zone { get; init; }
    public required EmTemplate Template { get; init; }
    public required EmServiceOffering ServiceOffering { get; init; }
    public required string Created { get; init; }
    public List<EmNic> Nics { get; } = [];
    public Dictionary<string, string> Details { get; } = new(StringComparer.Ordinal);
    public string State { get; set; } = "Stopped";
    public bool Expunged { get; set; }

    public JsonObject ToJson()
    {
        var details = new JsonObject();
        foreach (var (key, value) in Details)
        {
            details[key] = value;
        }

        var json = new JsonObject
        {
            ["id"] = Id, ["name"] = Name, ["displayname"] = DisplayName, ["instancename"] = $"i-2-{Number}-VM",
            ["account"] = "admin", ["userid"] = OsseaEmulatorCloud.UserId, ["username"] = "admin",
            ["domainid"] = OsseaEmulatorCloud.DomainId, ["domain"] = "ROOT", ["created"] = Created, ["state"] = State,
            ["haenable"] = false, ["zoneid"] = Zone.Id, ["zonename"] = Zone.Name,
            ["templateid"] = Template.Id, ["templatename"] = Template.Name, ["templatedisplaytext"] = Template.Name,
            ["passwordenabled"] = false, ["serviceofferingid"] = ServiceOffering.Id, ["serviceofferingname"] = ServiceOffering.Name,
            ["cpunumber"] = ServiceOffering.IsCustomized ? int.Parse(Details["cpuNumber"], System.Globalization.CultureInfo.InvariantCulture) : ServiceOffering.CpuNumber,
            ["cpuspeed"] = ServiceOffering.IsCustomized ? int.Parse(Details["cpuSpeed"], System.Globalization.CultureInfo.InvariantCulture) : 2000,
            ["memory"] = ServiceOffering.IsCustomized ? int.Parse(Details["memory"], System.Globalization.CultureInfo.InvariantCulture) : ServiceOffering.Memory,
            ["guestosid"] = "e53f7606-5fdf-11ea-9a56-1e006800018c", ["rootdeviceid"] = 0, ["rootdevicetype"] = "ROOT",
            ["securitygroup"] = new JsonArray(), ["nic"] = new JsonArray(Nics.Select(n => (JsonNode)n.ToJson()).ToArray()),
            ["hypervisor"] = "KVM", ["details"] = details, ["isdynamicallyscalable"] = false, ["displayvm"] = true,
            ["affinitygroup"] = new JsonArray(),
        };
        if (State == "Running")
        {
            json["hostid"] = OsseaEmulatorCloud.HostId;
            json["hostname"] = "kvm-emulated-01";
        }

        return json;
    }
}

internal sealed class EmVolume
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required EmZone Zone { get; init; }
    public required string Created { get; init; }
    public EmDiskOffering? DiskOffering { get; init; }
    public string Type { get; set; } = "DATADISK";
    public string State { get; set; } = "Allocated";
    public long SizeBytes { get; set; }
    public EmVirtualMachine? Vm { get; set; }
    public long? DeviceId { get; set; }
    public string? Attached { get; set; }
    /// <summary>True while an attach/detach job works on it (ACS's Attaching state guard).</summary>
    public bool Busy { get; set; }
    /// <summary>An attach job is between checkAndSetAttaching and the host's answer.</summary>
    public bool Attaching { get; set; }
    public bool Removed { get; set; }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["id"] = Id, ["name"] = Name, ["zoneid"] = Zone.Id, ["zonename"] = Zone.Name, ["type"] = Type,
        };
        if (Vm is not null && !Attaching)
        {
            json["deviceid"] = DeviceId;
            json["virtualmachineid"] = Vm.Id;
            json["vmname"] = Vm.Name;
            json["vmdisplayname"] = Vm.DisplayName;
            json["vmstate"] = Vm.State;
            json["vmtype"] = "User";
        }

        var allocated = State == "Allocated";
        json["provisioningtype"] = "thin";
        json["size"] = SizeBytes;
        json["created"] = Created;
        if (Attached is not null && Vm is not null && !Attaching)
        {
            json["attached"] = Attached;
        }

        json["state"] = Attaching ? "Attaching" : State;
        json["account"] = "admin";
        json["domainid"] = OsseaEmulatorCloud.DomainId;
        json["domain"] = "ROOT";
        json["storagetype"] = "shared";
        json["hypervisor"] = allocated ? "None" : "KVM";
        if (DiskOffering is not null)
        {
            json["diskofferingid"] = DiskOffering.Id;
            json["diskofferingname"] = DiskOffering.Name;
            json["diskofferingdisplaytext"] = DiskOffering.Name;
        }

        json["storage"] = allocated ? "none" : "emulated-primary";
        if (!allocated)
        {
            json["storageid"] = OsseaEmulatorCloud.StorageId;
            json["path"] = Id;
        }

        json["destroyed"] = false;
        json["isextractable"] = false;
        json["displayvolume"] = true;
        return json;
    }
}

internal sealed class EmSnapshot
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required EmVolume Volume { get; init; }
    public required string Created { get; init; }
    public string State { get; set; } = "Allocated";
    public long SizeBytes { get; set; }
    public bool Removed { get; set; }

    public JsonObject ToJson() => new()
    {
        ["id"] = Id, ["account"] = "admin", ["domainid"] = OsseaEmulatorCloud.DomainId, ["domain"] = "ROOT",
        ["snapshottype"] = "MANUAL", ["volumeid"] = Volume.Id, ["volumename"] = Volume.Name, ["volumetype"] = Volume.Type,
        ["volumestate"] = Volume.State, ["created"] = Created, ["name"] = Name, ["intervaltype"] = "MANUAL", ["state"] = State,
        ["physicalsize"] = SizeBytes, ["virtualsize"] = SizeBytes, ["zoneid"] = Volume.Zone.Id, ["zonename"] = Volume.Zone.Name,
        ["locationtype"] = "PRIMARY", ["revertable"] = true,
    };
}

internal sealed class EmJob
{
    public required string Id { get; init; }
    public required string Command { get; init; }
    public required string JavaCommand { get; init; }
    public required string Created { get; init; }
    public string? InstanceType { get; init; }
    public string? InstanceId { get; init; }
    public int Status { get; set; }
    public int ResultCode { get; set; }
    public JsonObject? Result { get; set; }
    public string? Completed { get; set; }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["accountid"] = OsseaEmulatorCloud.AccountId, ["userid"] = OsseaEmulatorCloud.UserId, ["cmd"] = JavaCommand,
            ["jobstatus"] = Status, ["jobprocstatus"] = 0, ["jobresultcode"] = ResultCode,
        };
        if (Result is not null)
        {
            json["jobresulttype"] = "object";
            json["jobresult"] = Result.DeepClone();
        }

        if (InstanceType is not null)
        {
            json["jobinstancetype"] = InstanceType;
            json["jobinstanceid"] = InstanceId;
        }

        json["created"] = Created;
        if (Completed is not null)
        {
            json["completed"] = Completed;
        }

        json["jobid"] = Id;
        return json;
    }
}

internal static class EmFormat
{
    /// <summary>CloudStack's date format: <c>2021-10-04T09:24:38+0000</c>.</summary>
    public static string Date(DateTimeOffset value)
        => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'+0000'", CultureInfo.InvariantCulture);
}
