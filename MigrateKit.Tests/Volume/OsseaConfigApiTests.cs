using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Volume;

[Category(TestKind.Database)]
public class OsseaConfigApiTests : DatabaseTest
{
    private MigrateKit.Tests.Support.Ossea.OsseaEmulator _emulator = null!;

    [SetUp]
    public async Task StartEmulator() => _emulator = await MigrateKit.Tests.Support.Ossea.OsseaEmulator.StartAsync();

    [TearDown]
    public async Task StopEmulator() => await _emulator.DisposeAsync();

    private object ValidBody(string name = "primary", string? secretKey = null) => new
    {
        name,
        apiUrl = _emulator.ApiUrl.ToString(),
        apiKey = _emulator.ApiKey,
        secretKey = secretKey ?? _emulator.SecretKey,
        zone = _emulator.ZoneId,
        omaVmId = _emulator.OmaVmId,
    };

    [Test]
    public async Task An_invalid_body_gets_400_listing_each_bad_field()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var client = await host.CreateAdminClientAsync();
        using var response = await client.PostAsJsonAsync("/api/v1/ossea-configs", new { name = "bad name!", apiUrl = "ftp://x", zone = "" });
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(problem.GetProperty("errors").EnumerateObject().Select(p => p.Name),
                Is.EquivalentTo(new[] { "Name", "ApiUrl", "ApiKey", "SecretKey", "Zone", "OmaVmId" }));
        });
        await using var conn = await OpenAsync();
        Assert.That(await conn.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM ossea_configs"), Is.Zero, "nothing stored");
    }

    [TestCase("{not json")]
    [TestCase("[1,2,3]")]
    [TestCase("")]
    public async Task An_unreadable_body_gets_400(string body)
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var client = await host.CreateAdminClientAsync();
        using var response = await client.PostAsync("/api/v1/ossea-configs", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
    }

    [Test]
    public async Task A_config_is_created_with_its_keys_encrypted_and_never_returned()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var client = await host.CreateAdminClientAsync();
        using var created = await client.PostAsJsonAsync("/api/v1/ossea-configs", ValidBody());
        var createdText = await created.Content.ReadAsStringAsync();
        var listText = await client.GetStringAsync("/api/v1/ossea-configs");
        var jobsText = await client.GetStringAsync("/api/v1/jobs?type=ossea-config.create");

        await using var conn = await OpenAsync();
        var stored = await conn.QuerySingleAsync<(string ApiKey, string SecretKey)>("SELECT api_key AS ApiKey, secret_key AS SecretKey FROM ossea_configs");
        var protector = new MigrateKit.Modules.Core.Security.SecretProtector(Configuration);
        Assert.Multiple(() =>
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
            Assert.That(created.Headers.Location!.ToString(), Does.StartWith("/api/v1/ossea-configs/"));
            foreach (var text in new[] { createdText, listText, jobsText, stored.ApiKey, stored.SecretKey })
            {
                Assert.That(text, Does.Not.Contain(_emulator.ApiKey).And.Not.Contain(_emulator.SecretKey));
            }
            Assert.That(protector.Unprotect(stored.ApiKey), Is.EqualTo(_emulator.ApiKey));
            Assert.That(protector.Unprotect(stored.SecretKey), Is.EqualTo(_emulator.SecretKey));
            Assert.That(JsonDocument.Parse(jobsText).RootElement.GetProperty("total").GetInt64(), Is.EqualTo(1), "creation is in the job log");
        });
    }

    [Test]
    public async Task A_config_whose_credentials_fail_the_connection_test_is_refused()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var client = await host.CreateAdminClientAsync();
        using var response = await client.PostAsJsonAsync("/api/v1/ossea-configs", ValidBody(secretKey: "wrong-secret"));
        var problem = await response.Content.ReadAsStringAsync();
        Assert.Multiple(async () =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(problem, Does.Contain("connection test failed"));
            Assert.That(problem, Does.Not.Contain("wrong-secret"));
            await using var conn = await OpenAsync();
            Assert.That(await conn.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM ossea_configs"), Is.Zero);
        });
    }

    [Test]
    public async Task A_duplicate_name_is_a_conflict_and_delete_removes_it()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var client = await host.CreateAdminClientAsync();
        using var first = await client.PostAsJsonAsync("/api/v1/ossea-configs", ValidBody("dup"));
        using var second = await client.PostAsJsonAsync("/api/v1/ossea-configs", ValidBody("dup"));
        var id = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt32();
        using var deleted = await client.DeleteAsync($"/api/v1/ossea-configs/{id}");
        using var gone = await client.GetAsync($"/api/v1/ossea-configs/{id}");
        Assert.Multiple(() =>
        {
            Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
            Assert.That(gone.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        });
    }
}
