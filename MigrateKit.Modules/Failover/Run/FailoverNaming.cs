using System.Text;
using System.Text.RegularExpressions;

namespace MigrateKit.Modules.Failover.Run;

/// <summary>Names of the OSSEA VMs a failover creates, and the hold reason it puts on the replication.</summary>
internal static partial class FailoverNaming
{
    private const int MaxHostName = 63;

    /// <summary>CloudStack's VM (host) name rule: ASCII letters, digits and hyphens, 1–63 characters, starting with a letter, not ending with a hyphen.</summary>
    [GeneratedRegex("^[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")]
    public static partial Regex HostName();

    /// <summary>The source VM's name made a host name, plus the failover's short id so test VMs never collide.</summary>
    public static string VmName(string sourceVmName, Guid failoverId)
    {
        var suffix = "-" + failoverId.ToString("N")[..8];
        var sb = new StringBuilder();
        foreach (var c in sourceVmName.ToLowerInvariant())
        {
            var keep = char.IsAsciiLetterOrDigit(c) ? c : '-';
            if (keep == '-' && (sb.Length == 0 || sb[^1] == '-'))
            {
                continue;
            }
            sb.Append(keep);
        }
        var slug = sb.ToString().Trim('-');
        if (slug.Length == 0 || !char.IsAsciiLetter(slug[0]))
        {
            slug = "vm-" + slug;
        }
        slug = slug[..Math.Min(slug.Length, MaxHostName - suffix.Length)].TrimEnd('-');
        return slug + suffix;
    }

    public static string HoldReason(Guid failoverId) => $"failover {failoverId}";

    public static string Owner(Guid failoverId) => $"failover:{failoverId}";

    public static bool TryParseOwner(string owner, out Guid failoverId)
    {
        failoverId = Guid.Empty;
        return owner.StartsWith("failover:", StringComparison.Ordinal) && Guid.TryParse(owner.AsSpan("failover:".Length), out failoverId);
    }
}
