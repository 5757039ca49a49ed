using System.Security.Cryptography.X509Certificates;

namespace MigrateKit.Modules.Transport.Pki;

/// <summary>
/// The agent's identity in its state directory: <c>agent.key</c> (0600), <c>agent.crt</c> and the
/// OMA's <c>ca.crt</c>. Written by enrollment, read by the tunnel client at start.
/// </summary>
public sealed class AgentCredentialStore(string directory)
{
    public const string KeyFile = "agent.key";
    public const string CertificateFile = "agent.crt";
    public const string CaFile = "ca.crt";

    public string Directory { get; } = directory;

    public bool IsEnrolled => File.Exists(Path.Combine(Directory, KeyFile)) && File.Exists(Path.Combine(Directory, CertificateFile)) && File.Exists(Path.Combine(Directory, CaFile));

    /// <summary>The agent certificate with its private key, and the CA to trust.</summary>
    public (X509Certificate2 Certificate, X509Certificate2 Ca) Load()
    {
        if (!IsEnrolled)
        {
            throw new InvalidOperationException($"the agent is not enrolled: {Directory} lacks {KeyFile}, {CertificateFile} or {CaFile}");
        }

        return (PemFiles.LoadCertificateWithKey(Path.Combine(Directory, CertificateFile), Path.Combine(Directory, KeyFile)),
            PemFiles.LoadCertificate(Path.Combine(Directory, CaFile)));
    }

    internal void Save(System.Security.Cryptography.AsymmetricAlgorithm key, string certificatePem, string caPem)
    {
        if (!OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        else
        {
            System.IO.Directory.CreateDirectory(Directory);
        }

        PemFiles.WritePrivateKey(Path.Combine(Directory, KeyFile), key);
        PemFiles.WriteText(Path.Combine(Directory, CertificateFile), certificatePem);
        PemFiles.WriteText(Path.Combine(Directory, CaFile), caPem);
    }
}
