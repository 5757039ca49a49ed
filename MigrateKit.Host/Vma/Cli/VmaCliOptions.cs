using System.CommandLine;
using Microsoft.Extensions.Configuration;

namespace MigrateKit.Host.Vma.Cli;

/// <summary>
/// Configuration layering for every verb: the JSON file (--config, default /etc/migratekit/vma.json
/// when present), then environment variables MIGRATEKIT_VMA_* with <c>__</c> as the section
/// separator (e.g. MIGRATEKIT_VMA_VSphere__Address, MIGRATEKIT_VMA_Vma__Oma__Host), then options.
/// The vCenter password lives in VSphere:PasswordFile, never in the file or the environment.
/// </summary>
internal static class VmaCliOptions
{
    public const string DefaultConfigFile = "/etc/migratekit/vma.json";

    public static readonly Option<string?> Config = new("--config")
    {
        Description = $"Configuration file (JSON). Default: {DefaultConfigFile} when it exists.",
        Recursive = true,
    };

    public static IConfigurationRoot BuildConfiguration(ParseResult parse, IDictionary<string, string?>? overrides = null)
    {
        var file = parse.GetValue(Config);
        if (file is not null && !File.Exists(file))
        {
            throw new VmaCliException($"configuration file '{file}' does not exist");
        }
        file ??= File.Exists(DefaultConfigFile) ? DefaultConfigFile : null;
        var builder = new ConfigurationBuilder();
        if (file is not null)
        {
            builder.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        }
        builder.AddEnvironmentVariables("MIGRATEKIT_VMA_");
        builder.AddInMemoryCollection(overrides ?? new Dictionary<string, string?>());
        return builder.Build();
    }

    /// <summary>HOST:PORT (port defaults to 443); IPv6 as [addr]:port.</summary>
    public static bool TryParseHostPort(string text, out string host, out int port)
    {
        host = "";
        port = 443;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        var colon = text.LastIndexOf(':');
        var bracket = text.LastIndexOf(']');
        if (colon > bracket && colon > 0)
        {
            if (!int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port)
                || port is < 1 or > 65535)
            {
                return false;
            }
            host = text[..colon];
        }
        else
        {
            host = text;
        }
        host = host.Trim('[', ']');
        return host.Length > 0;
    }
}

/// <summary>An operator error: printed as one line, exit code 2.</summary>
internal sealed class VmaCliException(string message) : Exception(message);
