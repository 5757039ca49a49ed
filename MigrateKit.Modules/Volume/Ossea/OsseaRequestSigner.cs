using System.Security.Cryptography;
using System.Text;

namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// CloudStack request signing exactly as the server checks it (ACS <c>ApiServer.verifyRequest</c>):
/// every parameter except <c>signature</c>, names sorted ordinally as sent, values encoded with
/// <c>java.net.URLEncoder</c> rules and <c>+</c> turned into <c>%20</c>, names left literal, the
/// whole string lowercased, HMAC-SHA1 with the secret key, standard Base64.
/// </summary>
internal static class OsseaRequestSigner
{
    public const string SignatureParameter = "signature";

    private const string HexDigits = "0123456789ABCDEF";

    // Java's String.getBytes(UTF-8) turns an unpaired surrogate into '?', not U+FFFD.
    private static readonly Encoding JavaUtf8 = Encoding.GetEncoding(
        "utf-8", new EncoderReplacementFallback("?"), DecoderFallback.ReplacementFallback);

    /// <summary>
    /// <c>URLEncoder.encode(value, "UTF-8").replaceAll("\\+", "%20")</c>: only <c>A-Z a-z 0-9 . - * _</c>
    /// stay literal, so <c>~ ! ( ) '</c> are escaped (unlike Uri.EscapeDataString / WebUtility.UrlEncode).
    /// Also used for the query string we send, so what goes on the wire is what was signed.
    /// </summary>
    public static string Encode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var bytes = JavaUtf8.GetBytes(value);
        var builder = new StringBuilder(bytes.Length * 3);
        foreach (var b in bytes)
        {
            if (IsUnreserved(b))
            {
                builder.Append((char)b);
            }
            else if (b == (byte)' ')
            {
                builder.Append("%20");
            }
            else
            {
                builder.Append('%').Append(HexDigits[b >> 4]).Append(HexDigits[b & 0xF]);
            }
        }

        return builder.ToString();
    }

    /// <summary>The lowercased, sorted <c>name=value&amp;…</c> string the HMAC is computed over.</summary>
    public static string BuildStringToSign(IEnumerable<KeyValuePair<string, string>> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var pieces = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var parameter in parameters)
        {
            if (string.Equals(parameter.Key, SignatureParameter, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            // The server signs only the first value of a repeated name; we never send repeats.
            if (!seen.Add(parameter.Key))
            {
                throw new ArgumentException($"Parameter '{parameter.Key}' appears more than once.", nameof(parameters));
            }

            pieces.Add(parameter);
        }

        pieces.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        var builder = new StringBuilder();
        foreach (var (name, value) in pieces)
        {
            if (builder.Length > 0)
            {
                builder.Append('&');
            }

            builder.Append(name).Append('=').Append(Encode(value));
        }

        return builder.ToString().ToLowerInvariant();
    }

    public static string ComputeSignature(string stringToSign, ReadOnlySpan<byte> secretKey)
    {
        ArgumentNullException.ThrowIfNull(stringToSign);
        Span<byte> digest = stackalloc byte[HMACSHA1.HashSizeInBytes];
        HMACSHA1.HashData(secretKey, Encoding.UTF8.GetBytes(stringToSign), digest);
        return Convert.ToBase64String(digest);
    }

    public static string Sign(IEnumerable<KeyValuePair<string, string>> parameters, ReadOnlySpan<byte> secretKey)
        => ComputeSignature(BuildStringToSign(parameters), secretKey);

    private static bool IsUnreserved(byte b)
        => b is >= (byte)'a' and <= (byte)'z'
            or >= (byte)'A' and <= (byte)'Z'
            or >= (byte)'0' and <= (byte)'9'
            or (byte)'.' or (byte)'-' or (byte)'*' or (byte)'_';
}
