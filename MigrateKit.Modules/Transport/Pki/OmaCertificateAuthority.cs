using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MigrateKit.Modules.Transport.Pki;

/// <summary>Where the OMA keeps its CA and server identity, and what the server certificate names.</summary>
public sealed record OmaPkiOptions
{
    /// <summary>Directory holding ca.key, ca.crt, server.key, server.crt (created with 0700).</summary>
    public required string Directory { get; init; }

    /// <summary>DNS names put in the server certificate's SAN (the first one is also its CN).</summary>
    public IReadOnlyList<string> HostNames { get; init; } = ["localhost"];

    public IReadOnlyList<IPAddress> IpAddresses { get; init; } = [IPAddress.Loopback];

    public TimeSpan CaLifetime { get; init; } = TimeSpan.FromDays(3650);

    public TimeSpan ServerLifetime { get; init; } = TimeSpan.FromDays(825);

    /// <summary>Default lifetime of agent (client) certificates.</summary>
    public TimeSpan AgentLifetime { get; init; } = TimeSpan.FromDays(365);
}

/// <summary>What the lead stores in <c>vma_agents</c> after signing an agent's CSR.</summary>
public sealed record IssuedAgentCertificate(
    string AgentName,
    X509Certificate2 Certificate,
    string CertificatePem,
    CertificateFingerprint Fingerprint,
    string SerialNumber,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter);

/// <summary>
/// The OMA's private certificate authority (ECDSA P-256). Created on first start in its directory,
/// loaded afterwards. It issues exactly one serverAuth certificate (the OMA's) and clientAuth
/// certificates for agents; the tunnel trusts only this CA in both directions.
/// </summary>
public sealed class OmaCertificateAuthority : IDisposable
{
    public const string CaKeyFile = "ca.key";
    public const string CaCertificateFile = "ca.crt";
    public const string ServerKeyFile = "server.key";
    public const string ServerCertificateFile = "server.crt";

    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);
    private readonly ECDsa _caKey;
    private readonly TimeProvider _time;
    private readonly OmaPkiOptions _options;

    private OmaCertificateAuthority(OmaPkiOptions options, ECDsa caKey, X509Certificate2 caCertificate, X509Certificate2 serverCertificate, TimeProvider time)
    {
        _options = options;
        _caKey = caKey;
        CaCertificate = caCertificate;
        ServerCertificate = serverCertificate;
        _time = time;
    }

    /// <summary>The CA certificate (public part only).</summary>
    public X509Certificate2 CaCertificate { get; }

    /// <summary>The OMA's TLS server certificate with its private key.</summary>
    public X509Certificate2 ServerCertificate { get; }

    /// <summary>What an operator gives <c>vma enroll</c> to pin the OMA.</summary>
    public CertificateFingerprint ServerFingerprint => CertificateFingerprint.Of(ServerCertificate);

    public CertificateFingerprint CaFingerprint => CertificateFingerprint.Of(CaCertificate);

    /// <summary>Loads the CA and server identity from the directory, creating whatever is missing.</summary>
    public static OmaCertificateAuthority LoadOrCreate(OmaPkiOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.HostNames.Count == 0 && options.IpAddresses.Count == 0)
        {
            throw new ArgumentException("the OMA server certificate needs at least one host name or IP address");
        }

        var dir = options.Directory;
        if (!System.IO.Directory.Exists(dir))
        {
            if (OperatingSystem.IsWindows())
            {
                System.IO.Directory.CreateDirectory(dir);
            }
            else
            {
                System.IO.Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        var caKeyPath = Path.Combine(dir, CaKeyFile);
        var caCertPath = Path.Combine(dir, CaCertificateFile);
        ECDsa caKey;
        X509Certificate2 caCert;
        if (File.Exists(caKeyPath) && File.Exists(caCertPath))
        {
            caKey = ECDsa.Create();
            caKey.ImportFromPem(File.ReadAllText(caKeyPath));
            caCert = PemFiles.LoadCertificate(caCertPath);
            using var publicKey = caCert.GetECDsaPublicKey() ?? throw new CryptographicException($"{caCertPath} is not an ECDSA certificate");
            if (!publicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(caKey.ExportSubjectPublicKeyInfo()))
            {
                throw new CryptographicException($"{caKeyPath} does not match {caCertPath}");
            }
        }
        else if (File.Exists(caKeyPath) || File.Exists(caCertPath))
        {
            throw new InvalidOperationException($"{dir} holds only half of the CA ({CaKeyFile}/{CaCertificateFile}); refusing to replace it");
        }
        else
        {
            caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            caCert = CreateCaCertificate(caKey, options, time);
            PemFiles.WritePrivateKey(caKeyPath, caKey);
            PemFiles.WriteCertificate(caCertPath, caCert);
        }

        var serverKeyPath = Path.Combine(dir, ServerKeyFile);
        var serverCertPath = Path.Combine(dir, ServerCertificateFile);
        X509Certificate2 server;
        if (File.Exists(serverKeyPath) && File.Exists(serverCertPath))
        {
            server = PemFiles.LoadCertificateWithKey(serverCertPath, serverKeyPath);
            if (!string.Equals(server.Issuer, caCert.Subject, StringComparison.Ordinal) || !VerifyIssuedBy(server, caCert))
            {
                throw new CryptographicException($"{serverCertPath} was not issued by {caCertPath}");
            }
        }
        else
        {
            using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            using var issued = CreateServerCertificate(serverKey, caKey, caCert, options, time);
            PemFiles.WritePrivateKey(serverKeyPath, serverKey);
            PemFiles.WriteCertificate(serverCertPath, issued);
            server = PemFiles.LoadCertificateWithKey(serverCertPath, serverKeyPath);
        }

        return new OmaCertificateAuthority(options, caKey, caCert, server, time);
    }

    /// <summary>
    /// Signs an agent's PKCS#10 request into a clientAuth certificate. The request's own subject and
    /// extensions are ignored: the subject is CN=<paramref name="agentName"/>, the serial is random.
    /// </summary>
    public IssuedAgentCertificate SignAgentRequest(string csrPem, string agentName, TimeSpan? lifetime = null)
    {
        if (!AgentNames.IsValid(agentName))
        {
            throw new ArgumentException($"invalid agent name '{agentName}' ({AgentNames.Rule})", nameof(agentName));
        }

        CertificateRequest request;
        try
        {
            // Verifies the request's self-signature (proof of possession of the key).
            request = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.Default);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new CertificateRequestException($"the certificate request is not a valid PKCS#10 PEM: {ex.Message}");
        }

        var publicKey = request.PublicKey;
        CheckKeyStrength(publicKey);

        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(agentName);
        subject.AddOrganizationName("MigrateKit VMA");
        var issued = new CertificateRequest(subject.Build(), publicKey, HashAlgorithmName.SHA256);
        issued.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        issued.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        issued.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(TlsOids.ClientAuth)], true));
        issued.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        issued.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(CaCertificate, true, false));

        var now = _time.GetUtcNow();
        var notAfter = now + (lifetime ?? _options.AgentLifetime);
        if (notAfter > CaCertificate.NotAfter)
        {
            notAfter = CaCertificate.NotAfter;
        }

        var serial = RandomSerial();
        var generator = X509SignatureGenerator.CreateForECDsa(_caKey);
        var certificate = issued.Create(CaCertificate.SubjectName, generator, now - ClockSkew, notAfter, serial);
        return new IssuedAgentCertificate(
            agentName,
            certificate,
            certificate.ExportCertificatePem() + "\n",
            CertificateFingerprint.Of(certificate),
            certificate.SerialNumber,
            certificate.NotBefore.ToUniversalTime(),
            certificate.NotAfter.ToUniversalTime());
    }

    private static void CheckKeyStrength(PublicKey key)
    {
        using var ec = key.GetECDsaPublicKey();
        if (ec is not null)
        {
            if (ec.KeySize < 256)
            {
                throw new CertificateRequestException($"ECDSA key of {ec.KeySize} bits is too small (P-256 or larger)");
            }

            return;
        }

        using var rsa = key.GetRSAPublicKey();
        if (rsa is not null)
        {
            if (rsa.KeySize < 2048)
            {
                throw new CertificateRequestException($"RSA key of {rsa.KeySize} bits is too small (2048 or larger)");
            }

            return;
        }

        throw new CertificateRequestException("the request's key is neither ECDSA nor RSA");
    }

    private static X509Certificate2 CreateCaCertificate(ECDsa key, OmaPkiOptions options, TimeProvider time)
    {
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName($"MigrateKit OMA CA {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        name.AddOrganizationName("MigrateKit");
        var request = new CertificateRequest(name.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = time.GetUtcNow();
        return request.CreateSelfSigned(now - ClockSkew, now + options.CaLifetime);
    }

    private static X509Certificate2 CreateServerCertificate(ECDsa key, ECDsa caKey, X509Certificate2 ca, OmaPkiOptions options, TimeProvider time)
    {
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName(options.HostNames.Count > 0 ? options.HostNames[0] : options.IpAddresses[0].ToString());
        name.AddOrganizationName("MigrateKit OMA");
        var request = new CertificateRequest(name.Build(), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var host in options.HostNames)
        {
            san.AddDnsName(host);
        }

        foreach (var ip in options.IpAddresses)
        {
            san.AddIpAddress(ip);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(TlsOids.ServerAuth)], true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var now = time.GetUtcNow();
        var notAfter = now + options.ServerLifetime;
        if (notAfter > ca.NotAfter)
        {
            notAfter = ca.NotAfter;
        }

        return request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now - ClockSkew, notAfter, RandomSerial());
    }

    private static bool VerifyIssuedBy(X509Certificate2 certificate, X509Certificate2 ca)
    {
        using var chain = TlsValidation.CreateChain(ca, TlsOids.ServerAuth);
        return chain.Build(certificate);
    }

    private static byte[] RandomSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive
        serial[0] |= 0x01; // no leading zero byte, so the length is stable
        return serial;
    }

    public void Dispose()
    {
        _caKey.Dispose();
        CaCertificate.Dispose();
        ServerCertificate.Dispose();
    }
}

/// <summary>The peer's certificate request was unusable.</summary>
public sealed class CertificateRequestException(string message) : Exception(message);

internal static class TlsOids
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";
}

/// <summary>Agent names become certificate CNs and database keys: keep them plain.</summary>
public static class AgentNames
{
    public const string Rule = "1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit";

    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64 || !char.IsAsciiLetterOrDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }
}
