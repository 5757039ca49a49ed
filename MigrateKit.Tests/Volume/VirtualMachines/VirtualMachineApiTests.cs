using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Volume.VirtualMachines;

/// <summary>The OSSEA catalogue and VM endpoints over real HTTP (Kestrel, admin token) against the emulator.</summary>
[Category(TestKind.Database)]
public class VirtualMachineApiTests : DatabaseTest
{
    [Test]
    public async Task Networks_offerings_check_and_vms_are_served_to_operators()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        var vm = await env.SendAsync(env.Create("api-vm", "failover-api"));
        using var admin = await env.Host.CreateAdminClientAsync();
        var id = env.ConfigId;

        var networks = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/ossea-configs/{id}/networks");
        var offerings = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/ossea-configs/{id}/service-offerings");
        var check = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/ossea-configs/{id}/check");
        var one = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/ossea-configs/{id}/vms/{vm.VmId}");
        using var unknownVm = await admin.GetAsync($"/api/v1/ossea-configs/{id}/vms/{Guid.NewGuid()}");

        Assert.Multiple(() =>
        {
            Assert.That(networks.EnumerateArray().Select(n => (n.GetProperty("id").GetString(), n.GetProperty("name").GetString())),
                Is.EqualTo(new[] { (env.Emulator.SecondNetworkId, "failover-net"), (env.Emulator.NetworkId, "migration-net") }));
            Assert.That(networks[0].GetProperty("zoneId").GetString(), Is.EqualTo(env.Emulator.ZoneId));
            var custom = offerings.EnumerateArray().Single(o => o.GetProperty("id").GetString() == env.Emulator.CustomServiceOfferingId);
            var fixedOne = offerings.EnumerateArray().Single(o => o.GetProperty("id").GetString() == env.Emulator.ServiceOfferingId);
            Assert.That(custom.GetProperty("isCustomized").GetBoolean(), Is.True);
            Assert.That(custom.GetProperty("cpuNumber").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That((fixedOne.GetProperty("cpuNumber").GetInt32(), fixedOne.GetProperty("memoryMb").GetInt32()), Is.EqualTo((2, 4096)));
            Assert.That(check.GetProperty("ok").GetBoolean(), Is.True);
            Assert.That(check.GetProperty("osseaConfigId").GetInt32(), Is.EqualTo(id));
            Assert.That(check.GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(one.GetProperty("vmId").GetString(), Is.EqualTo(vm.VmId));
            Assert.That(one.GetProperty("state").GetString(), Is.EqualTo("Stopped"));
            Assert.That(one.GetProperty("nics")[0].GetProperty("networkId").GetString(), Is.EqualTo(env.Emulator.NetworkId));
            Assert.That(unknownVm.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        });
    }

    [Test]
    public async Task A_config_ossea_refuses_is_a_failed_check_not_an_error()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        using var admin = await env.Host.CreateAdminClientAsync();
        env.Emulator.Faults.FailAllCalls("listZones", 401, "unable to verify user credentials and/or request signature");

        using var response = await admin.GetAsync($"/api/v1/ossea-configs/{env.ConfigId}/check");
        var check = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(check.GetProperty("ok").GetBoolean(), Is.False);
            Assert.That(check.GetProperty("error").GetString(), Does.Contain("credentials"));
        });
    }

    [TestCase("networks")]
    [TestCase("service-offerings")]
    [TestCase("check")]
    [TestCase("vms/0b0e6c4e-3f0f-4b8e-9a4e-000000000001")]
    public async Task Unknown_configs_are_404_and_anonymous_callers_401(string path)
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        using var admin = await env.Host.CreateAdminClientAsync();

        using var unknown = await admin.GetAsync($"/api/v1/ossea-configs/{env.ConfigId + 1000}/{path}");
        using var anonymous = await env.Host.Anonymous.GetAsync($"/api/v1/ossea-configs/{env.ConfigId}/{path}");

        Assert.Multiple(() =>
        {
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(env.Emulator.Faults.CallCount("listNetworks") + env.Emulator.Faults.CallCount("listServiceOfferings"), Is.Zero,
                "neither reached OSSEA");
        });
    }
}
