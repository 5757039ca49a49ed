using System.Net;
using Microsoft.Extensions.Configuration;

namespace MigrateKit.Modules.Agents.Tunnel;

/// <summary>The "Tunnel" configuration section of the OMA.</summary>
internal sealed record AgentsOptions
{
    public bool Enabled { get; init; } = true;
    public IPEndPoint Listen { get; init; } = new(IPAddress.Any, 443);
    public required string PkiDirectory { get; init; }
    public IReadOnlyList<string> HostNames { get; init; } = [];
    public IReadOnlyList<IPAddress> IpAddresses { get; init; } = [];

    public static AgentsOptions From(IConfiguration configuration)
    {
        var section = configuration.GetSection("Tunnel");
        var dataDirectory = configuration["Oma:DataDirectory"] ?? "/var/lib/migratekit";
        var listenText = section["Listen"] ?? "0.0.0.0:443";
        if (!IPEndPoint.TryParse(listenText, out var listen))
        {
            throw new MigrateKit.Modules.Core.Errors.ConfigurationErrorException($"Tunnel:Listen '{listenText}' is not an address:port.");
        }
        var hostNames = Split(section["HostNames"]);
        var addresses = Split(section["IpAddresses"]).Select(a => IPAddress.TryParse(a, out var ip) ? ip
            : throw new MigrateKit.Modules.Core.Errors.ConfigurationErrorException($"Tunnel:IpAddresses has '{a}', which is not an IP address.")).ToList();
        return new AgentsOptions
        {
            Enabled = !string.Equals(section["Enabled"], "false", StringComparison.OrdinalIgnoreCase),
            Listen = listen,
            PkiDirectory = section["PkiDirectory"] ?? Path.Combine(dataDirectory, "pki"),
            // The server certificate names what agents dial; the fingerprint pin is what they trust.
            HostNames = hostNames.Count > 0 ? hostNames : [Dns.GetHostName(), "localhost"],
            IpAddresses = addresses.Count > 0 ? addresses : [IPAddress.Loopback],
        };
    }

    private static List<string> Split(string? value) =>
        (value ?? "").Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
}
