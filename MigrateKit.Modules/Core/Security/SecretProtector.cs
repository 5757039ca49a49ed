using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace MigrateKit.Modules.Core.Security;

/// <summary>
/// Encrypts secrets kept in the database (OSSEA API and secret keys) with AES-256-GCM under a
/// key file only the service can read. A database dump alone does not reveal them.
/// Ciphertext format: "v1:" + base64(nonce[12] | tag[16] | ciphertext).
/// </summary>
public sealed class SecretProtector
{
    private const string Version = "v1:";
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] _key;

    public SecretProtector(IConfiguration configuration)
    {
        var keyFile = configuration["Secrets:KeyFile"]
            ?? Path.Combine(configuration["Oma:DataDirectory"] ?? "/var/lib/migratekit", "secrets.key");
        _key = LoadOrCreateKey(keyFile);
    }

    public string Protect(string plaintext)
    {
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var buffer = new byte[NonceSize + TagSize + plain.Length];
        var nonce = buffer.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plain, buffer.AsSpan(NonceSize + TagSize), buffer.AsSpan(NonceSize, TagSize));
        return Version + Convert.ToBase64String(buffer);
    }

    public string Unprotect(string protectedValue)
    {
        if (!protectedValue.StartsWith(Version, StringComparison.Ordinal))
        {
            throw new CryptographicException("Not a protected secret (unknown format).");
        }
        var buffer = Convert.FromBase64String(protectedValue[Version.Length..]);
        if (buffer.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("Protected secret is truncated.");
        }
        var plain = new byte[buffer.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        aes.Decrypt(buffer.AsSpan(0, NonceSize), buffer.AsSpan(NonceSize + TagSize), buffer.AsSpan(NonceSize, TagSize), plain);
        return Encoding.UTF8.GetString(plain);
    }

    private static byte[] LoadOrCreateKey(string path)
    {
        if (File.Exists(path))
        {
            var existing = File.ReadAllBytes(path);
            return existing.Length == 32 ? existing : throw new CryptographicException($"Secret key file {path} must hold exactly 32 bytes.");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var key = RandomNumberGenerator.GetBytes(32);
        // Created with owner-only permissions from the first byte; CreateNew so two processes cannot both write one.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            using var stream = new FileStream(path, options);
            stream.Write(key);
            return key;
        }
        catch (IOException) when (File.Exists(path))
        {
            return LoadOrCreateKey(path);
        }
    }
}
