using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Failover;

public sealed partial class FailoverTests
{
    [Test]
    public async Task The_failover_api_refuses_bad_requests_unmapped_networks_and_a_second_failover_of_one_vm()
    {
        await using var r = await ReplicateAsync("vma-fo-api");
        var unknown = Guid.NewGuid();

        using (var anonymous = await r.Env.Host.Anonymous.PostAsJsonAsync("/api/v1/failovers/test", new { replicationId = r.Id, networkMappings = Mappings(r) }))
        using (var anonymousList = await r.Env.Host.Anonymous.GetAsync("/api/v1/failovers"))
        {
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(anonymousList.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }
        var (empty, emptyBody) = await PostAsync(r.Admin, "/api/v1/failovers/test", new { });
        var (badName, badNameBody) = await PostAsync(r.Admin, "/api/v1/failovers/test",
            new { replicationId = r.Id, networkMappings = Mappings(r), vmName = "9-not_a-hostname" });
        var (twice, twiceBody) = await PostAsync(r.Admin, "/api/v1/failovers/live", new
        {
            replicationId = r.Id,
            networkMappings = new[]
            {
                new { sourceNetwork = "VM Network", osseaNetworkId = r.Env.Emulator.NetworkId },
                new { sourceNetwork = "VM Network", osseaNetworkId = r.Env.Emulator.NetworkId },
            },
        });
        var (missing, _) = await PostAsync(r.Admin, "/api/v1/failovers/test", new { replicationId = unknown, networkMappings = Mappings(r) });
        using var getUnknown = await r.Admin.GetAsync($"/api/v1/failovers/{unknown}");
        var (cleanupUnknown, _) = await PostAsync(r.Admin, $"/api/v1/failovers/{unknown}/cleanup", null);
        // Only one of the VM's two source networks is mapped.
        var (unmapped, unmappedBody) = await PostAsync(r.Admin, "/api/v1/failovers/test", new
        {
            replicationId = r.Id,
            networkMappings = new[] { new { sourceNetwork = "DC0_DVPG0", osseaNetworkId = r.Env.Emulator.NetworkId } },
        });
        Assert.Multiple(() =>
        {
            Assert.That(empty, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(Errors(emptyBody).Keys, Is.SupersetOf(new[] { "ReplicationId", "NetworkMappings" }));
            Assert.That(badName, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(Errors(badNameBody).Keys, Does.Contain("VmName"));
            Assert.That(twice, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(string.Join(" ", Errors(twiceBody).Values.SelectMany(v => v)), Does.Contain("mapped once"));
            Assert.That(missing, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(getUnknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(cleanupUnknown, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(unmapped, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(Errors(unmappedBody)["NetworkMappings"], Has.Some.Contains("'VM Network'").And.All.Not.Contains("DC0_DVPG0"));
        });

        // Mapped, but to an OSSEA network that does not exist: only OSSEA can tell, so the preflight step fails naming it.
        var badNetwork = await StartFailoverAsync(r, body: new
        {
            replicationId = r.Id,
            networkMappings = new[]
            {
                new { sourceNetwork = "DC0_DVPG0", osseaNetworkId = r.Env.Emulator.NetworkId },
                new { sourceNetwork = "VM Network", osseaNetworkId = "no-such-network" },
            },
        });
        var preflight = await WaitFailoverAsync(r, badNetwork, "failed", "rollback_failed", "completed");
        Assert.Multiple(async () =>
        {
            Assert.That(preflight.GetProperty("status").GetString(), Is.EqualTo("failed"));
            Assert.That(preflight.GetProperty("errorMessage").GetString(),
                Does.StartWith("preflight failed").And.Contain("'VM Network'").And.Contain("no-such-network"));
            Assert.That(await StepsAsync(r, "failover.test", badNetwork), Is.EqualTo(new[] { ("preflight", "failed", (string?)null) })
                .Using<(string Name, string Status, string? Error)>((a, b) => a.Name == b.Name && a.Status == b.Status));
            Assert.That(preflight.GetProperty("destinationVmId").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
        await AssertBackOnOmaAsync(r, "preflight");

        // Both source networks onto one OSSEA network: OSSEA gives a VM one NIC per network, so the preflight says so.
        var oneNetwork = await StartFailoverAsync(r, body: new
        {
            replicationId = r.Id,
            networkMappings = new[]
            {
                new { sourceNetwork = "DC0_DVPG0", osseaNetworkId = r.Env.Emulator.NetworkId },
                new { sourceNetwork = "VM Network", osseaNetworkId = r.Env.Emulator.NetworkId },
            },
        });
        var shared = await WaitFailoverAsync(r, oneNetwork, "failed", "rollback_failed", "completed");
        Assert.That(shared.GetProperty("errorMessage").GetString(),
            Does.StartWith("preflight failed").And.Contain("one NIC per network").And.Contain("'DC0_DVPG0'").And.Contain("'VM Network'"));

        // Capacity: an unknown service offering, and one smaller than the source VM (as vCenter described it).
        var unknownOffering = await StartFailoverAsync(r, body: new { replicationId = r.Id, networkMappings = Mappings(r), serviceOfferingId = "no-such-offering" });
        var noOffering = await WaitFailoverAsync(r, unknownOffering, "failed", "rollback_failed", "completed");
        await ExecuteAsync("UPDATE replication_jobs SET source_vm_spec = JSON_SET(source_vm_spec, '$.numCpu', 16) WHERE id = @id", new { id = r.Id });
        var tooSmall = await StartFailoverAsync(r);
        var small = await WaitFailoverAsync(r, tooSmall, "failed", "rollback_failed", "completed");
        await ExecuteAsync("UPDATE replication_jobs SET source_vm_spec = JSON_SET(source_vm_spec, '$.numCpu', 2) WHERE id = @id", new { id = r.Id });
        Assert.Multiple(() =>
        {
            Assert.That(noOffering.GetProperty("errorMessage").GetString(), Does.StartWith("preflight failed").And.Contain("no-such-offering"));
            Assert.That(small.GetProperty("errorMessage").GetString(), Does.StartWith("preflight failed").And.Contain("16 vCPU").And.Contain("smaller"));
        });

        // Two failovers of one VM cannot run at once.
        var first = await StartFailoverAsync(r);
        var (second, secondBody) = await PostAsync(r.Admin, "/api/v1/failovers/test", new { replicationId = r.Id, networkMappings = Mappings(r) });
        var (live, _) = await PostAsync(r.Admin, "/api/v1/failovers/live", new { replicationId = r.Id, networkMappings = Mappings(r) });
        Assert.Multiple(() =>
        {
            Assert.That(second, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(secondBody.GetProperty("detail").GetString(), Does.Contain(first.ToString()));
            Assert.That(live, Is.EqualTo(HttpStatusCode.Conflict));
        });
        var done = await WaitFailoverAsync(r, first, "completed", "failed", "rollback_failed");
        Assert.That(done.GetProperty("status").GetString(), Is.EqualTo("completed"), done.ToString());
        var (syncWhileTested, _) = await PostAsync(r.Admin, $"/api/v1/replications/{r.Id}/sync", null);
        Assert.That(syncWhileTested, Is.EqualTo(HttpStatusCode.Conflict), "the test VM holds the replication");
        var (cleanup, _) = await PostAsync(r.Admin, $"/api/v1/failovers/{first}/cleanup", null);
        Assert.That(cleanup, Is.EqualTo(HttpStatusCode.Accepted));
        await WaitFailoverAsync(r, first, "cleaned_up", "cleanup_failed");

        var all = await r.Admin.GetFromJsonAsync<JsonElement>("/api/v1/failovers");
        var failedOnly = await r.Admin.GetFromJsonAsync<JsonElement>("/api/v1/failovers?status=failed");
        Assert.Multiple(() =>
        {
            Assert.That(all.EnumerateArray().Select(f => f.GetProperty("id").GetGuid()), Is.EquivalentTo(new[] { badNetwork, oneNetwork, unknownOffering, tooSmall, first }));
            Assert.That(failedOnly.EnumerateArray().Select(f => f.GetProperty("id").GetGuid()), Is.EquivalentTo(new[] { badNetwork, oneNetwork, unknownOffering, tooSmall }));
            Assert.That(all.EnumerateArray().First().GetProperty("networkMappings")[0].GetProperty("sourceNetwork").GetString(), Is.Not.Empty);
        });
    }

    private static Dictionary<string, string[]> Errors(JsonElement problem) =>
        problem.TryGetProperty("errors", out var errors)
            ? errors.EnumerateObject().ToDictionary(e => e.Name, e => e.Value.EnumerateArray().Select(v => v.GetString()!).ToArray())
            : [];
}
