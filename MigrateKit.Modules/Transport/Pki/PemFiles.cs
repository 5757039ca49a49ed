using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MigrateKit.Modules.Transport.Pki;

/// <summary>PEM files on disk: private keys are created with mode 0600 and replaced atomically.</summary>
internal static class PemFiles
{
    private const UnixFileMode PrivateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PublicMode = PrivateMode | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static void WritePrivateKey(string path, AsymmetricAlgorithm key)
    {
        WriteAtomically(path, key.ExportPkcs8PrivateKeyPem(), PrivateMode);
    }

    public static void WriteCertificate(string path, X509Certificate2 certificate)
        => WriteAtomically(path, certificate.ExportCertificatePem() + "\n", PublicMode);

    public static void WriteText(string path, string text) => WriteAtomically(path, text, PublicMode);

    private static void WriteAtomically(string path, string text, UnixFileMode mode)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode; // the mode is set at creation: no window where a key is world-readable
        }

        try
        {
            using (var file = new FileStream(temp, options))
            {
                var bytes = Encoding.ASCII.GetBytes(text);
                file.Write(bytes);
                file.Flush(flushToDisk: true);
                CryptographicOperations.ZeroMemory(bytes);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Loads a certificate with its private key from PEM files.</summary>
    public static X509Certificate2 LoadCertificateWithKey(string certificatePath, string keyPath)
    {
        var certificate = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        return certificate;
    }

    public static X509Certificate2 LoadCertificate(string path) => X509CertificateLoader.LoadCertificate(PemDer(File.ReadAllText(path)));

    public static byte[] PemDer(string pem)
    {
        var fields = PemEncoding.Find(pem);
        if (!pem.AsSpan()[fields.Label].SequenceEqual("CERTIFICATE"))
        {
            throw new CryptographicException("not a PEM certificate");
        }

        return Convert.FromBase64String(pem[fields.Base64Data]);
    }
}
