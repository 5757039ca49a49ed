using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Tunnel;

// Real TLS on 127.0.0.1 with a server per test; kept serial with the other socket fixtures.
[NonParallelizable]
[Category(TestKind.Unit)]
public class EnrollmentTests
{
    private static string NewStateDir() => Path.Combine(Path.GetTempPath(), "mk-agent-" + Guid.NewGuid().ToString("N"));

    private static EnrollmentOptions Options(TunnelTestEnvironment env, string token, CertificateFingerprint? pin = null, string? name = null) => new()
    {
        Host = "127.0.0.1",
        Port = env.Port,
        ServerFingerprint = pin ?? env.Pki.Ca.ServerFingerprint,
        Token = token,
        AgentName = name,
        Timeout = TimeSpan.FromSeconds(10),
    };

    [Test]
    public async Task EnrolledCertificateOpensATunnel()
    {
        await using var env = new TunnelTestEnvironment(enrollment: true);
        env.Enrollment.AddToken("tok-good-1", "vma-lab-1", TimeSpan.FromMinutes(10));
        var store = new AgentCredentialStore(NewStateDir());
        try
        {
            var result = await TunnelEnrollmentClient.EnrollAsync(Options(env, "tok-good-1", name: "vma-lab-1"), store, CancellationToken.None);
            Assert.Multiple(() =>
            {
                Assert.That(result.AgentName, Is.EqualTo("vma-lab-1"));
                Assert.That(env.Enrollment.Issued.Single().Fingerprint, Is.EqualTo(result.Fingerprint));
                Assert.That(store.IsEnrolled, Is.True);
                Assert.That(PkiTests.UnixMode(Path.Combine(store.Directory, AgentCredentialStore.KeyFile)),
                    Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            });
            Assert.That(env.Logs.Lines.Any(l => l.Contains("tok-good-1")), Is.False, "the token is a secret and never logged");

            var (certificate, ca) = store.Load();
            await using var client = new TunnelClient(new TunnelClientOptions
            {
                Host = "127.0.0.1",
                Port = env.Port,
                ClientCertificate = certificate,
                CaCertificate = ca,
            }, new TunnelServiceRegistry(), env.Logs, TimeProvider.System);
            client.Start();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await using var stream = await client.OpenStreamAsync("echo", cts.Token);
            Assert.That(await TunnelTestEnvironment.EchoRoundTripAsync(stream, [1, 2, 3, 4], cts.Token), Is.EqualTo(new byte[] { 1, 2, 3, 4 }));
            Assert.That(env.Server.Agents.Single().AgentName, Is.EqualTo("vma-lab-1"));
        }
        finally
        {
            Directory.Delete(store.Directory, recursive: true);
        }
    }

    [Test]
    public async Task WrongFingerprintPinIsRefusedByTheAgent()
    {
        await using var env = new TunnelTestEnvironment(enrollment: true);
        env.Enrollment.AddToken("tok-pin", "vma-pin", TimeSpan.FromMinutes(10));
        var wrong = CertificateFingerprint.Of(env.Pki.Ca.CaCertificate); // a real fingerprint, of the wrong certificate
        var store = new AgentCredentialStore(NewStateDir());
        var ex = Assert.ThrowsAsync<EnrollmentException>(() => TunnelEnrollmentClient.EnrollAsync(Options(env, "tok-pin", wrong), store, CancellationToken.None));
        Assert.That(ex!.Message, Does.Contain("does not match the pinned"));
        Assert.That(store.IsEnrolled, Is.False);
        Assert.That(env.Enrollment.Issued, Is.Empty, "the token was never sent to an unverified server");

        // The token is still usable with the right pin.
        await TunnelEnrollmentClient.EnrollAsync(Options(env, "tok-pin"), store, CancellationToken.None);
        Directory.Delete(store.Directory, recursive: true);
    }

    [Test]
    public async Task ReusedTokenIsRefused()
    {
        await using var env = new TunnelTestEnvironment(enrollment: true);
        env.Enrollment.AddToken("tok-once", "vma-once", TimeSpan.FromMinutes(10));
        var first = new AgentCredentialStore(NewStateDir());
        var second = new AgentCredentialStore(NewStateDir());
        await TunnelEnrollmentClient.EnrollAsync(Options(env, "tok-once"), first, CancellationToken.None);
        var ex = Assert.ThrowsAsync<EnrollmentException>(() => TunnelEnrollmentClient.EnrollAsync(Options(env, "tok-once"), second, CancellationToken.None));
        Assert.That(ex!.Message, Does.Contain("already used"));
        Assert.That(second.IsEnrolled, Is.False);
        Directory.Delete(first.Directory, recursive: true);
    }

    [Test]
    public async Task ExpiredTokenIsRefused()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var env = new TunnelTestEnvironment(enrollment: true);
        var authority = new InMemoryEnrollmentAuthority(time);
        authority.AddToken("tok-old", "vma-old", TimeSpan.FromMinutes(10));
        time.Advance(TimeSpan.FromMinutes(11));
        var decision = await authority.RedeemTokenAsync("tok-old", null, CancellationToken.None);
        Assert.That(decision.Accepted, Is.False);

        // Through the wire: the environment's authority with a token that expired immediately.
        env.Enrollment.AddToken("tok-expired", "vma-exp", TimeSpan.Zero);
        var store = new AgentCredentialStore(NewStateDir());
        var ex = Assert.ThrowsAsync<EnrollmentException>(() => TunnelEnrollmentClient.EnrollAsync(Options(env, "tok-expired"), store, CancellationToken.None));
        Assert.That(ex!.Message, Does.Contain("expired"));
        await env.Logs.WaitForAsync(l => l.Contains("Enrollment from") && l.Contains("expired"), TimeSpan.FromSeconds(5));
    }

    [TestCase("oversized")]
    [TestCase("not-json")]
    [TestCase("bad-csr")]
    public async Task MalformedEnrollmentRequestsGetAnErrorAnswer(string kind)
    {
        await using var env = new TunnelTestEnvironment(enrollment: true);
        env.Enrollment.AddToken("tok-keep", "vma-keep", TimeSpan.FromMinutes(10));
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, env.Port);
        await using var ssl = new System.Net.Security.SslStream(new System.Net.Sockets.NetworkStream(socket, ownsSocket: false));
        await ssl.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [new System.Net.Security.SslApplicationProtocol(TunnelWire.EnrollAlpn)],
            RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && env.Pki.Ca.ServerFingerprint.Matches(new X509Certificate2(cert)),
        });
        byte[] body = kind switch
        {
            "not-json" => "{{{ nope"u8.ToArray(),
            "bad-csr" => System.Text.Encoding.UTF8.GetBytes("{\"token\":\"tok-keep\",\"csrPem\":\"-----BEGIN CERTIFICATE REQUEST-----\\nAAAA\\n-----END CERTIFICATE REQUEST-----\"}"),
            _ => [],
        };
        var header = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header, kind == "oversized" ? 64u * 1024 * 1024 : (uint)body.Length);
        await ssl.WriteAsync(header);
        await ssl.WriteAsync(body);

        var answerHeader = new byte[4];
        await ssl.ReadExactlyAsync(answerHeader).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var answer = new byte[System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(answerHeader)];
        await ssl.ReadExactlyAsync(answer);
        var text = System.Text.Encoding.UTF8.GetString(answer);
        Assert.That(text, Does.Contain("\"ok\":false"));
        Assert.That(text, Does.Contain(kind switch { "oversized" => "length", "not-json" => "not valid JSON", _ => "invalid certificate request" }));

        // A broken request does not burn the token.
        var store = new AgentCredentialStore(NewStateDir());
        await TunnelEnrollmentClient.EnrollAsync(Options(env, "tok-keep"), store, CancellationToken.None);
        Directory.Delete(store.Directory, recursive: true);
    }

    [Test]
    public async Task EnrollmentDisabledServerRefusesTheAlpn()
    {
        await using var env = new TunnelTestEnvironment(enrollment: false);
        var store = new AgentCredentialStore(NewStateDir());
        Assert.ThrowsAsync<EnrollmentException>(() => TunnelEnrollmentClient.EnrollAsync(Options(env, "whatever"), store, CancellationToken.None));
        await env.Logs.WaitForAsync(l => l.Contains("enrollment is not enabled"), TimeSpan.FromSeconds(5));
    }
}

[Parallelizable(ParallelScope.All)] // temp directories and in-memory crypto only
[Category(TestKind.Unit)]
public class PkiTests
{
    internal static UnixFileMode UnixMode(string path)
        => OperatingSystem.IsWindows() ? throw new PlatformNotSupportedException("file modes are a Unix test") : File.GetUnixFileMode(path);

    [Test]
    public void FingerprintFormatsAndParsesBothForms()
    {
        var fp = CertificateFingerprint.Of("hello"u8);
        var colon = fp.ToString();
        var hex = fp.ToHex();
        Assert.Multiple(() =>
        {
            Assert.That(colon, Does.Match("^([0-9A-F]{2}:){31}[0-9A-F]{2}$"));
            Assert.That(hex, Does.Match("^[0-9a-f]{64}$"));
            Assert.That(CertificateFingerprint.Parse(colon), Is.EqualTo(fp));
            Assert.That(CertificateFingerprint.Parse(hex), Is.EqualTo(fp));
            Assert.That(CertificateFingerprint.Parse(hex.ToUpperInvariant()), Is.EqualTo(fp));
            Assert.That(CertificateFingerprint.Parse("sha256:" + colon.ToLowerInvariant()), Is.EqualTo(fp));
        });
    }

    [TestCase("")]
    [TestCase("abc")]
    [TestCase("zz")]
    [TestCase(":2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")]
    [TestCase("2c:f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98")]
    [TestCase("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982400")]
    [TestCase("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982g")]
    public void BadFingerprintsDoNotParse(string text) => Assert.That(CertificateFingerprint.TryParse(text, out _), Is.False);

    [Test]
    public void CaIsCreatedOnceWithPrivateKeyModesAndReloaded()
    {
        var dir = Path.Combine(Path.GetTempPath(), "mk-ca-" + Guid.NewGuid().ToString("N"));
        var options = new OmaPkiOptions { Directory = dir, HostNames = ["oma.example"], IpAddresses = [IPAddress.Parse("10.0.0.5")] };
        try
        {
            string caFp, serverFp;
            using (var first = OmaCertificateAuthority.LoadOrCreate(options, TimeProvider.System))
            {
                caFp = first.CaFingerprint.ToString();
                serverFp = first.ServerFingerprint.ToString();
                var san = first.ServerCertificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
                Assert.That(san.EnumerateDnsNames(), Is.EqualTo(new[] { "oma.example" }));
                Assert.That(san.EnumerateIPAddresses(), Is.EqualTo(new[] { IPAddress.Parse("10.0.0.5") }));
            }

            foreach (var key in new[] { OmaCertificateAuthority.CaKeyFile, OmaCertificateAuthority.ServerKeyFile })
            {
                Assert.That(UnixMode(Path.Combine(dir, key)), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), key);
            }

            using var second = OmaCertificateAuthority.LoadOrCreate(options, TimeProvider.System);
            Assert.That(second.CaFingerprint.ToString(), Is.EqualTo(caFp));
            Assert.That(second.ServerFingerprint.ToString(), Is.EqualTo(serverFp));
            Assert.That(second.ServerCertificate.HasPrivateKey, Is.True);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void SignedAgentCertificateHasClientAuthRandomSerialAndRequestedLifetime()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        var dir = Path.Combine(Path.GetTempPath(), "mk-ca-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var ca = OmaCertificateAuthority.LoadOrCreate(new OmaPkiOptions { Directory = dir }, time);
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var csr = new CertificateRequest("CN=ignored, O=whatever", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
            var a = ca.SignAgentRequest(csr, "vma-1", TimeSpan.FromDays(30));
            var b = ca.SignAgentRequest(csr, "vma-1", TimeSpan.FromDays(30));
            var eku = a.Certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single();
            Assert.Multiple(() =>
            {
                Assert.That(a.Certificate.GetNameInfo(X509NameType.SimpleName, false), Is.EqualTo("vma-1"));
                Assert.That(eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value), Is.EqualTo(new[] { "1.3.6.1.5.5.7.3.2" }));
                Assert.That(a.NotAfter, Is.EqualTo(time.GetUtcNow().AddDays(30)));
                Assert.That(a.SerialNumber, Is.Not.EqualTo(b.SerialNumber));
                Assert.That(a.Fingerprint, Is.EqualTo(CertificateFingerprint.Of(a.Certificate)));
            });
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void BadRequestsAndNamesAreRejected()
    {
        var dir = Path.Combine(Path.GetTempPath(), "mk-ca-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var ca = OmaCertificateAuthority.LoadOrCreate(new OmaPkiOptions { Directory = dir }, TimeProvider.System);
            using var weak = RSA.Create(1024);
            var weakCsr = new CertificateRequest("CN=x", weak, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequestPem();
            Assert.Throws<CertificateRequestException>(() => ca.SignAgentRequest(weakCsr, "vma-1"));
            Assert.Throws<CertificateRequestException>(() => ca.SignAgentRequest("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", "vma-1"));
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var csr = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
            Assert.Throws<ArgumentException>(() => ca.SignAgentRequest(csr, "bad name/../x"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
