using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Api;

[Category(TestKind.Database)]
public class AdminApiTests : DatabaseTest
{
    [Test]
    public async Task Health_needs_no_token_and_reports_version_and_database()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var response = await host.Anonymous.GetAsync("/api/v1/health");
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(body.GetProperty("version").GetString(), Is.EqualTo(File.ReadAllText(Path.Combine(RepoPaths.Root, "VERSION.txt")).Trim()));
            Assert.That(body.GetProperty("database").GetProperty("reachable").GetBoolean(), Is.True);
        });
    }

    [Test]
    public async Task Health_reports_an_unreachable_database_as_503_without_its_password()
    {
        var unreachable = "Server=127.0.0.1;Port=1;Database=nowhere;User ID=nobody;Password=hunter2-secret;Connection Timeout=2";
        await using var host = await OmaTestHost.StartAsync(unreachable);
        using var response = await host.Anonymous.GetAsync("/api/v1/health");
        var text = await response.Content.ReadAsStringAsync();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(JsonDocument.Parse(text).RootElement.GetProperty("database").GetProperty("reachable").GetBoolean(), Is.False);
            Assert.That(text, Does.Not.Contain("hunter2"));
        });
    }

    [TestCase(null)]
    [TestCase("Bearer mkt_not-a-real-token")]
    [TestCase("Basic dXNlcjpwYXNz")]
    [TestCase("Bearer ")]
    public async Task The_api_answers_401_without_a_valid_token(string? authorization)
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/jobs");
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }
        using var response = await host.Anonymous.SendAsync(request);
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(response.Headers.WwwAuthenticate.ToString(), Does.Contain("Bearer"));
        });
    }

    [Test]
    public async Task A_revoked_token_is_refused_from_then_on()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var client = await host.CreateAdminClientAsync("soon-revoked");
        Assert.That((await client.GetAsync("/api/v1/jobs")).StatusCode, Is.EqualTo(HttpStatusCode.OK));

        await using (var scope = host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new RevokeAdminTokenCommand("soon-revoked"));
        }
        Assert.That((await client.GetAsync("/api/v1/jobs")).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task Invalid_query_values_get_400_listing_each_bad_field()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var client = await host.CreateAdminClientAsync();
        using var response = await client.GetAsync("/api/v1/jobs?pageSize=0&status=sleeping");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
            var fields = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToArray();
            Assert.That(fields, Is.EquivalentTo(new[] { "PageSize", "Status" }));
        });
    }

    [Test]
    public async Task A_job_and_its_steps_are_visible_through_the_api()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        using var client = await host.CreateAdminClientAsync();
        var tracker = host.Services.GetRequiredService<MigrateKit.Modules.Core.JobLog.IJobTracker>();
        var jobId = await tracker.RunJobAsync(new JobStart("test.api", "visible job", "tests"), async (job, ct) =>
        {
            await job.RunStepAsync("step one", _ => Task.CompletedTask, ct);
            return job.JobId;
        }, CancellationToken.None);

        var details = await client.GetFromJsonAsync<JsonElement>($"/api/v1/jobs/{jobId}");
        var list = await client.GetFromJsonAsync<JsonElement>("/api/v1/jobs?type=test.api");
        using var missing = await client.GetAsync($"/api/v1/jobs/{Guid.NewGuid()}");
        Assert.Multiple(() =>
        {
            Assert.That(details.GetProperty("job").GetProperty("status").GetString(), Is.EqualTo("completed"));
            Assert.That(details.GetProperty("steps")[0].GetProperty("name").GetString(), Is.EqualTo("step one"));
            Assert.That(list.GetProperty("total").GetInt64(), Is.EqualTo(1));
            Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        });
    }

    [Test]
    public async Task The_openapi_document_is_served_and_lists_the_endpoints()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        var document = await host.Anonymous.GetFromJsonAsync<JsonElement>("/api/v1/openapi.json");
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToArray();
        Assert.That(paths, Is.SupersetOf(new[] { "/api/v1/health", "/api/v1/jobs", "/api/v1/jobs/{id}" }));
    }

    [Test]
    public async Task Tokens_are_stored_as_hashes_only()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        await using var scope = host.Services.CreateAsyncScope();
        var created = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new CreateAdminTokenCommand("hash-check"));
        await using var conn = await OpenAsync();
        var stored = await Dapper.SqlMapper.QuerySingleAsync<(string Hash, string Prefix)>(conn,
            "SELECT token_hash AS Hash, token_prefix AS Prefix FROM admin_tokens WHERE name = 'hash-check'");
        Assert.Multiple(() =>
        {
            Assert.That(stored.Hash, Does.Not.Contain(created.Token[4..]));
            Assert.That(stored.Hash, Has.Length.EqualTo(64));
            Assert.That(created.Token, Does.StartWith(stored.Prefix));
        });
    }
}
