namespace MigrateKit.Modules.Vma.VSphere;

/// <summary>How the VMA reaches vCenter. The password is read from <see cref="PasswordFile"/> at each login, never kept in configuration.</summary>
internal sealed class VSphereOptions
{
    /// <summary>vCenter host name or address, optionally with a port, or a full https://…/sdk URL.</summary>
    public string Address { get; set; } = "";

    public string User { get; set; } = "";

    /// <summary>File holding the password (first line). Never pass the password on a command line.</summary>
    public string PasswordFile { get; set; } = "";

    /// <summary>SHA1 thumbprint of vCenter's TLS certificate, <c>xx:xx:…</c> (20 pairs). It replaces CA trust.</summary>
    public string Thumbprint { get; set; } = "";

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a vCenter task (snapshot, reconfigure, power) may take.</summary>
    public TimeSpan TaskTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Largest SOAP response accepted; a bigger one is refused, not buffered.</summary>
    public int MaxResponseBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>The /sdk endpoint derived from <see cref="Address"/>.</summary>
    public Uri SdkUri()
    {
        var a = Address.Trim();
        if (a.Length == 0)
        {
            throw new ArgumentException("the vCenter address is empty");
        }
        if (!a.Contains("://", StringComparison.Ordinal))
        {
            a = "https://" + a;
        }
        if (!Uri.TryCreate(a, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException($"the vCenter address '{Address}' is not a host name or https URL");
        }
        var builder = new UriBuilder(uri);
        if (builder.Path is "" or "/")
        {
            builder.Path = "/sdk";
        }
        return builder.Uri;
    }

    /// <summary>Normalises a thumbprint to 20 bytes; accepts <c>xx:xx…</c>, <c>xx xx…</c> or plain hex.</summary>
    public static byte[] ParseThumbprint(string thumbprint)
    {
        var hex = thumbprint.Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal)
            .Replace("-", "", StringComparison.Ordinal).Trim();
        if (hex.Length != 40)
        {
            throw new ArgumentException("the vCenter thumbprint must be a SHA1 fingerprint of 20 hex pairs (xx:xx:…)");
        }
        try
        {
            return Convert.FromHexString(hex);
        }
        catch (FormatException e)
        {
            throw new ArgumentException("the vCenter thumbprint contains characters that are not hex digits", e);
        }
    }

    public static string FormatThumbprint(ReadOnlySpan<byte> sha1) => string.Join(':', Convert.ToHexString(sha1).Chunk(2).Select(c => new string(c)));

    public void Validate()
    {
        _ = SdkUri();
        if (string.IsNullOrWhiteSpace(User))
        {
            throw new ArgumentException("the vCenter user is empty");
        }
        if (string.IsNullOrWhiteSpace(PasswordFile))
        {
            throw new ArgumentException("the vCenter password file is not set");
        }
        _ = ParseThumbprint(Thumbprint);
        if (RequestTimeout <= TimeSpan.Zero || TaskTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("vCenter timeouts must be positive");
        }
        if (MaxResponseBytes < 64 * 1024)
        {
            throw new ArgumentException("MaxResponseBytes is too small for vCenter responses");
        }
    }
}
