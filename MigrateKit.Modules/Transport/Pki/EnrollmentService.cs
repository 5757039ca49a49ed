using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Modules.Transport.Pki;

/// <summary>OMA side of the enrollment exchange (see <see cref="EnrollmentWire"/>): one request, one answer.</summary>
internal sealed class EnrollmentService(OmaCertificateAuthority ca, IEnrollmentAuthority authority, ILogger logger)
{
    public async Task HandleAsync(Stream stream, EndPoint? remote, CancellationToken cancellationToken)
    {
        EnrollmentResponse response;
        try
        {
            var request = await EnrollmentWire.ReadAsync(stream, EnrollmentJsonContext.Default.EnrollmentRequest, cancellationToken).ConfigureAwait(false);
            response = await DecideAsync(request, remote, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException ex)
        {
            TunnelLog.EnrollmentRejected(logger, remote, ex.Message);
            response = new EnrollmentResponse(false, null, null, null, ex.Message);
        }

        await EnrollmentWire.WriteAsync(stream, response, EnrollmentJsonContext.Default.EnrollmentResponse, cancellationToken).ConfigureAwait(false);
    }

    private async Task<EnrollmentResponse> DecideAsync(EnrollmentRequest request, EndPoint? remote, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.Token) || request.Token.Length > 512)
        {
            return Reject(remote, "missing or malformed enrollment token");
        }

        if (request.AgentName is not null && !AgentNames.IsValid(request.AgentName))
        {
            return Reject(remote, $"invalid agent name ({AgentNames.Rule})");
        }

        if (string.IsNullOrEmpty(request.CsrPem) || request.CsrPem.Length > 16 * 1024)
        {
            return Reject(remote, "missing or oversized certificate request");
        }

        // Check the request before consuming the token, so a broken agent does not burn it.
        try
        {
            _ = System.Security.Cryptography.X509Certificates.CertificateRequest.LoadSigningRequestPem(
                request.CsrPem, HashAlgorithmName.SHA256, System.Security.Cryptography.X509Certificates.CertificateRequestLoadOptions.Default);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            return Reject(remote, $"invalid certificate request: {ex.Message}");
        }

        var decision = await authority.RedeemTokenAsync(request.Token, request.AgentName, cancellationToken).ConfigureAwait(false);
        if (!decision.Accepted || decision.AgentName is null)
        {
            return Reject(remote, decision.Reason ?? "enrollment token refused");
        }

        IssuedAgentCertificate issued;
        try
        {
            issued = ca.SignAgentRequest(request.CsrPem, decision.AgentName, decision.CertificateLifetime);
        }
        catch (Exception ex) when (ex is CertificateRequestException or ArgumentException)
        {
            return Reject(remote, ex.Message);
        }

        await authority.RecordIssuedAsync(issued, cancellationToken).ConfigureAwait(false);
        TunnelLog.AgentEnrolled(logger, issued.AgentName, remote, issued.Fingerprint.ToString(), issued.SerialNumber, issued.NotAfter);
        return new EnrollmentResponse(true, issued.AgentName, issued.CertificatePem, ca.CaCertificate.ExportCertificatePem() + "\n", null);
    }

    private EnrollmentResponse Reject(EndPoint? remote, string reason)
    {
        TunnelLog.EnrollmentRejected(logger, remote, reason);
        return new EnrollmentResponse(false, null, null, null, reason);
    }
}
