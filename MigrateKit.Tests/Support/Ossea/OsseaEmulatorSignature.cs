using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace MigrateKit.Tests.Support.Ossea;

/// <summary>
/// The emulator's own re-statement of ACS <c>ApiServer.verifyRequest</c>, written independently of
/// the client's signer (different encoder route) so the two check each other.
/// </summary>
internal static class OsseaEmulatorSignature
{
    /// <summary>java.net.URLEncoder + <c>replaceAll("\\+","%20")</c>, built from WebUtility.UrlEncode's output.</summary>
    public static string JavaEncode(string value)
    {
        // WebUtility.UrlEncode leaves ! ( ) literal and writes a space as '+'; Java escapes the first
        // three, and a '+' left in the output can only be an encoded space ('+' itself becomes %2B).
        var encoded = WebUtility.UrlEncode(value) ?? string.Empty;
        var builder = new StringBuilder(encoded.Length + 8);
        foreach (var c in encoded)
        {
            builder.Append(c switch
            {
                '!' => "%21",
                '(' => "%28",
                ')' => "%29",
                '+' => "%20",
                _ => c.ToString(),
            });
        }

        return builder.ToString();
    }

    public static string StringToSign(IReadOnlyDictionary<string, string> parameters)
    {
        var names = parameters.Keys
            .Where(n => !n.Equals("signature", StringComparison.OrdinalIgnoreCase))
            .ToList();
        names.Sort(StringComparer.Ordinal);
        return string.Join('&', names.Select(n => n + "=" + JavaEncode(parameters[n]))).ToLowerInvariant();
    }

    public static string Compute(IReadOnlyDictionary<string, string> parameters, string secretKey)
    {
        using var hmac = new HMACSHA1(Encoding.UTF8.GetBytes(secretKey));
        return Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(StringToSign(parameters))));
    }

    /// <summary>Constant-time comparison of the expected signature with the one sent.</summary>
    public static bool Matches(IReadOnlyDictionary<string, string> parameters, string secretKey, string sentSignature)
    {
        var expected = Encoding.ASCII.GetBytes(Compute(parameters, secretKey));
        var sent = Encoding.ASCII.GetBytes(sentSignature);
        return CryptographicOperations.FixedTimeEquals(expected, sent);
    }
}
