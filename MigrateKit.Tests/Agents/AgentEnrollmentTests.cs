using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using MigrateKit.Modules.Agents;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Agents;

/// <summary>The OMA side of agents, end to end: real TLS on 127.0.0.1, the real database.</summary>
[Category(TestKind.Database)]
public class AgentEnrollmentTests : DatabaseTest
{
    private async Task<string> NewTokenAsync(OmaTestHost host, string agent, TimeSpan? lifetime = null)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var created = await scope.ServiceProvider.GetRequiredService<IMediator>()
            .Send(new CreateEnrollmentTokenCommand(agent, lifetime ?? TimeSpan.FromHours(1)));
        return created.Token;
    }

    private static Task<EnrollmentResult> EnrollAsync(OmaTestHost host, string token, string? agent, string stateDirectory, string? fingerprint = null) =>
        TunnelEnrollmentClient.EnrollAsync(new EnrollmentOptions
        {
            Host = "127.0.0.1",
            Port = host.TunnelEndPoint.Port,
            ServerFingerprint = CertificateFingerprint.Parse(fingerprint ?? ServerFingerprint(host)),
            Token = token,
            AgentName = agent,
            Timeout = TimeSpan.FromSeconds(10),
        }, new AgentCredentialStore(stateDirectory), CancellationToken.None);

    private static string ServerFingerprint(OmaTestHost host) =>
        host.Services.GetRequiredService<MigrateKit.Modules.Agents.Tunnel.TunnelHost>().Server is not null
            ? AgentsModule.ServerFingerprint(host.Services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>(), TimeProvider.System)
            : throw new InvalidOperationException("tunnel not started");

    private static TunnelClient Connect(OmaTestHost host, string stateDirectory, TunnelServiceRegistry services)
    {
        var (certificate, ca) = new AgentCredentialStore(stateDirectory).Load();
        var client = new TunnelClient(new TunnelClientOptions
        {
            Host = "127.0.0.1",
            Port = host.TunnelEndPoint.Port,
            ClientCertificate = certificate,
            CaCertificate = ca,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
        }, services, NullLoggerFactory.Instance, TimeProvider.System);
        client.Start();
        return client;
    }

    /// <summary>The client is up once TLS is; the OMA registers it a moment later, after authorizing it.</summary>
    private static async Task WaitRegisteredAsync(IAgentChannel channel, string agent, TunnelClient client, CancellationToken ct)
    {
        while (!channel.IsConnected(agent))
        {
            if (ct.IsCancellationRequested)
            {
                Assert.Fail($"agent {agent} never registered on the OMA; client state {client.State}, last error: {client.LastError}");
            }
            await Task.Delay(20, CancellationToken.None);
        }
    }

    [Test]
    public async Task An_enrolled_agent_connects_and_the_oma_reaches_its_services_back_through_the_tunnel()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        var state = TestDirectories.Create("agent");
        var result = await EnrollAsync(host, await NewTokenAsync(host, "vma-1"), "vma-1", state);

        var agentServices = new TunnelServiceRegistry().Register("echo", async (stream, ct) =>
        {
            await stream.CopyToAsync(stream, ct);
        });
        await using var client = Connect(host, state, agentServices);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await client.WaitConnectedAsync(timeout.Token);

        var channel = host.Services.GetRequiredService<IAgentChannel>();
        await WaitRegisteredAsync(channel, "vma-1", client, timeout.Token);
        await using var stream = await channel.OpenStreamAsync("vma-1", "echo", timeout.Token);
        var payload = new byte[300_000];
        Random.Shared.NextBytes(payload);
        var echoed = new byte[payload.Length];
        var reading = Task.Run(async () => await stream.ReadExactlyAsync(echoed, timeout.Token));
        await stream.WriteAsync(payload, timeout.Token);
        await reading;

        using var admin = await host.CreateAdminClientAsync();
        var agents = await admin.GetFromJsonAsync<JsonElement>("/api/v1/agents");
        var jobs = await admin.GetFromJsonAsync<JsonElement>("/api/v1/jobs?type=agent.enroll");
        Assert.Multiple(() =>
        {
            Assert.That(result.AgentName, Is.EqualTo("vma-1"));
            Assert.That(echoed, Is.EqualTo(payload));
            Assert.That(agents[0].GetProperty("name").GetString(), Is.EqualTo("vma-1"));
            Assert.That(agents[0].GetProperty("connected").GetBoolean(), Is.True);
            Assert.That(agents[0].GetProperty("certificateFingerprint").GetString(), Is.EqualTo(result.Fingerprint.ToHex()));
            Assert.That(jobs.GetProperty("items")[0].GetProperty("status").GetString(), Is.EqualTo("completed"));
        });
    }

    [Test]
    public async Task A_token_works_once_and_not_after_it_expired()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        var token = await NewTokenAsync(host, "vma-once");
        await EnrollAsync(host, token, "vma-once", TestDirectories.Create("agent"));
        var reused = Assert.ThrowsAsync<EnrollmentException>(() => EnrollAsync(host, token, "vma-once", TestDirectories.Create("agent")));

        var expiring = await NewTokenAsync(host, "vma-late");
        await using (var conn = await OpenAsync())
        {
            await conn.ExecuteAsync("UPDATE vma_enrollment_tokens SET expires_at = '2000-01-01' WHERE agent_name = 'vma-late'");
        }
        var expired = Assert.ThrowsAsync<EnrollmentException>(() => EnrollAsync(host, expiring, "vma-late", TestDirectories.Create("agent")));
        var wrongName = Assert.ThrowsAsync<EnrollmentException>(async () =>
            await EnrollAsync(host, await NewTokenAsync(host, "vma-a"), "vma-b", TestDirectories.Create("agent")));

        using var admin = await host.CreateAdminClientAsync();
        var refused = await admin.GetFromJsonAsync<JsonElement>("/api/v1/jobs?type=agent.enroll&status=failed");
        Assert.Multiple(() =>
        {
            Assert.That(reused!.Message, Does.Contain("already used"));
            Assert.That(expired!.Message, Does.Contain("expired"));
            Assert.That(wrongName!.Message, Does.Contain("another agent name"));
            Assert.That(refused.GetProperty("total").GetInt64(), Is.EqualTo(3), "refusals are in the job log");
            Assert.That(refused.ToString(), Does.Not.Contain(token), "the token never is");
        });
    }

    [Test]
    public async Task A_wrong_fingerprint_pin_is_refused_by_the_agent()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        var token = await NewTokenAsync(host, "vma-pin");
        var wrong = new string('a', 64);
        Assert.ThrowsAsync<EnrollmentException>(() => EnrollAsync(host, token, "vma-pin", TestDirectories.Create("agent"), wrong));
        await using var conn = await OpenAsync();
        Assert.That(await conn.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM vma_enrollment_tokens WHERE used_at IS NOT NULL"), Is.Zero,
            "the agent stopped before sending the token");
    }

    [Test]
    public async Task Revoking_an_agent_cuts_its_live_tunnel_and_refuses_it_afterwards()
    {
        await using var host = await OmaTestHost.StartAsync(ConnectionString);
        var state = TestDirectories.Create("agent");
        await EnrollAsync(host, await NewTokenAsync(host, "vma-revoked"), "vma-revoked", state);
        await using var client = Connect(host, state, new TunnelServiceRegistry());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await client.WaitConnectedAsync(timeout.Token);
        var channel = host.Services.GetRequiredService<IAgentChannel>();
        await WaitRegisteredAsync(channel, "vma-revoked", client, timeout.Token);

        using var admin = await host.CreateAdminClientAsync();
        using var revoke = await admin.PostAsync("/api/v1/agents/vma-revoked/revoke", null);
        Assert.That(revoke.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        // The agent keeps trying to reconnect (as it should); the OMA keeps refusing it.
        await Task.Delay(TimeSpan.FromSeconds(1), timeout.Token);
        Assert.Multiple(() =>
        {
            Assert.That(channel.IsConnected("vma-revoked"), Is.False);
            Assert.ThrowsAsync<AgentUnavailableException>(() => channel.OpenStreamAsync("vma-revoked", "vma-api", timeout.Token));
        });
        using var missing = await admin.PostAsync("/api/v1/agents/nobody/revoke", null);
        Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }
}
