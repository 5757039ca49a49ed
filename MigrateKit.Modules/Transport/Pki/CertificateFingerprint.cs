using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MigrateKit.Modules.Transport.Pki;

/// <summary>
/// SHA-256 over a certificate's DER bytes. Formatted as upper-case hex with colons
/// (<c>AB:CD:…</c>, what operators compare with <c>openssl x509 -fingerprint -sha256</c>);
/// parsed with or without colons, in either case.
/// </summary>
public readonly record struct CertificateFingerprint
{
    public const int Size = 32;

    private readonly byte[]? _bytes;

    private CertificateFingerprint(byte[] bytes) => _bytes = bytes;

    public ReadOnlySpan<byte> Bytes => _bytes ?? [];

    public static CertificateFingerprint Of(X509Certificate2 certificate) => new(SHA256.HashData(certificate.RawData));

    public static CertificateFingerprint Of(ReadOnlySpan<byte> der) => new(SHA256.HashData(der));

    /// <summary>Parses 64 hex digits, optionally separated by colons (also tolerates spaces).</summary>
    public static bool TryParse(string? text, out CertificateFingerprint fingerprint)
    {
        fingerprint = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var digits = text.Trim();
        if (digits.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
        {
            digits = digits[7..];
        }

        Span<char> hex = stackalloc char[Size * 2];
        var count = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var c = digits[i];
            if (c is ':' or ' ')
            {
                // Colons must sit between byte pairs when present.
                if (c == ':' && (count % 2 != 0 || count == 0))
                {
                    return false;
                }

                continue;
            }

            if (!char.IsAsciiHexDigit(c) || count == hex.Length)
            {
                return false;
            }

            hex[count++] = c;
        }

        if (count != hex.Length)
        {
            return false;
        }

        var bytes = new byte[Size];
        for (var i = 0; i < Size; i++)
        {
            bytes[i] = byte.Parse(hex.Slice(i * 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }

        fingerprint = new CertificateFingerprint(bytes);
        return true;
    }

    public static CertificateFingerprint Parse(string text)
        => TryParse(text, out var fp) ? fp : throw new FormatException("a SHA-256 fingerprint is 64 hex digits, optionally separated by colons");

    public bool Matches(X509Certificate2 certificate)
        => _bytes is not null && CryptographicOperations.FixedTimeEquals(_bytes, SHA256.HashData(certificate.RawData));

    public bool Equals(CertificateFingerprint other) => Bytes.SequenceEqual(other.Bytes);

    public override int GetHashCode() => _bytes is null ? 0 : BitConverter.ToInt32(_bytes, 0);

    /// <summary>Lower-case hex without separators (the form stored in the database).</summary>
    public string ToHex() => Convert.ToHexStringLower(Bytes);

    /// <summary>Upper-case colon-separated hex.</summary>
    public override string ToString()
    {
        if (_bytes is null)
        {
            return string.Empty;
        }

        return string.Join(':', _bytes.Select(b => b.ToString("X2", CultureInfo.InvariantCulture)));
    }
}
