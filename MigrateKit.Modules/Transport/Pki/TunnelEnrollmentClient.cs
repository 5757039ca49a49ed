using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Modules.Transport.Pki;

public sealed record EnrollmentOptions
{
    public required string Host { get; init; }

    public int Port { get; init; } = 443;

    /// <summary>SHA-256 of the OMA server certificate, as shown by the OMA's <c>fingerprint</c> command.</summary>
    public required CertificateFingerprint ServerFingerprint { get; init; }

    /// <summary>The one-time token (a secret: never logged, never on a command line).</summary>
    public required string Token { get; init; }

    public string? AgentName { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>The result of a successful enrollment.</summary>
public sealed record EnrollmentResult(string AgentName, CertificateFingerprint Fingerprint, DateTimeOffset NotAfter, string StateDirectory);

/// <summary>The OMA refused the enrollment, or the OMA was not the pinned one.</summary>
public sealed class EnrollmentException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Agent side of enrollment: makes a fresh P-256 key, sends a CSR with the one-time token to the OMA
/// whose server certificate matches the pinned fingerprint, and stores key, certificate and CA.
/// </summary>
public static class TunnelEnrollmentClient
{
    public static async Task<EnrollmentResult> EnrollAsync(EnrollmentOptions options, AgentCredentialStore store, CancellationToken cancellationToken)
    {
        if (options.AgentName is not null && !AgentNames.IsValid(options.AgentName))
        {
            throw new ArgumentException($"invalid agent name ({AgentNames.Rule})", nameof(options));
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(options.AgentName ?? "migratekit-vma");
        var csr = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256).CreateSigningRequestPem();

        using var timeout = new Deadline(options.Timeout, options.Time, cancellationToken);
        EnrollmentResponse response;
        try
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(options.Host, options.Port, timeout.Token).ConfigureAwait(false);
            await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
            string? pinError = null;
            try
            {
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = options.Host,
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = [new SslApplicationProtocol(TunnelWire.EnrollAlpn)],
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                    // Nothing is trusted yet: the operator-given fingerprint is the whole trust decision.
                    RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    {
                        if (certificate is null)
                        {
                            pinError = "the OMA sent no certificate";
                            return false;
                        }

                        using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                        if (!options.ServerFingerprint.Matches(presented))
                        {
                            pinError = $"the OMA certificate fingerprint {CertificateFingerprint.Of(presented)} does not match the pinned {options.ServerFingerprint}";
                            return false;
                        }

                        return true;
                    },
                }, timeout.Token).ConfigureAwait(false);
            }
            catch (AuthenticationException ex)
            {
                throw new EnrollmentException(pinError ?? $"TLS with the OMA failed: {ex.Message}", ex);
            }

            await EnrollmentWire.WriteAsync(ssl, new EnrollmentRequest(options.AgentName, options.Token, csr), EnrollmentJsonContext.Default.EnrollmentRequest, timeout.Token).ConfigureAwait(false);
            response = await EnrollmentWire.ReadAsync(ssl, EnrollmentJsonContext.Default.EnrollmentResponse, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new EnrollmentException($"the OMA did not complete enrollment within {options.Timeout.TotalSeconds:0} s");
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException)
        {
            throw new EnrollmentException($"enrollment with {options.Host}:{options.Port} failed: {ex.Message}", ex);
        }

        if (!response.Ok || response.CertificatePem is null || response.CaCertificatePem is null || response.AgentName is null)
        {
            throw new EnrollmentException($"the OMA refused the enrollment: {response.Error ?? "no reason given"}");
        }

        // Check what came back before storing it: our key, and a chain to the returned CA.
        using var certificate = X509Certificate2.CreateFromPem(response.CertificatePem);
        using var ca = X509CertificateLoader.LoadCertificate(PemFiles.PemDer(response.CaCertificatePem));
        using var certificateKey = certificate.GetECDsaPublicKey();
        if (certificateKey is null || !certificateKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
        {
            throw new EnrollmentException("the OMA returned a certificate for a different key");
        }

        var chainError = TlsValidation.Validate(certificate, ca, TlsOids.ClientAuth, options.Time.GetUtcNow());
        if (chainError is not null)
        {
            throw new EnrollmentException($"the OMA returned an unusable certificate: {chainError}");
        }

        store.Save(key, response.CertificatePem, response.CaCertificatePem);
        return new EnrollmentResult(response.AgentName, CertificateFingerprint.Of(certificate), certificate.NotAfter.ToUniversalTime(), store.Directory);
    }
}
