using System.Security.Cryptography.X509Certificates;

namespace MigrateKit.Modules.Transport.Pki;

/// <summary>Chain checks against the OMA CA as the only trust anchor (the system store is never used).</summary>
internal static class TlsValidation
{
    public static X509Chain CreateChain(X509Certificate2 ca, string requiredEku)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        // Revocation is the agent authorizer's job (database), not CRL/OCSP.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(requiredEku));
        chain.ChainPolicy.DisableCertificateDownloads = true;
        return chain;
    }

    /// <summary>Returns null when <paramref name="certificate"/> chains to <paramref name="ca"/> with the EKU, else why not.</summary>
    public static string? Validate(X509Certificate2 certificate, X509Certificate2 ca, string requiredEku, DateTimeOffset now)
    {
        using var chain = CreateChain(ca, requiredEku);
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        if (chain.Build(certificate))
        {
            // CustomRootTrust accepts a chain ending at any custom root: make sure it is ours.
            var root = chain.ChainElements[^1].Certificate;
            return root.RawData.AsSpan().SequenceEqual(ca.RawData) ? null : "certificate does not chain to the OMA CA";
        }

        var problems = chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}").Distinct();
        return $"certificate not issued by the OMA CA or not valid ({string.Join("; ", problems)})";
    }
}
