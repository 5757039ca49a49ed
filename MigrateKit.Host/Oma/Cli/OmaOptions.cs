using System.CommandLine;
using Microsoft.Extensions.Configuration;
using MigrateKit.Modules.Core.Errors;

namespace MigrateKit.Host.Oma.Cli;

/// <summary>
/// Options every verb shares, and how configuration is layered: the file (--config, default
/// /etc/migratekit/oma.json when present), then MIGRATEKIT_* environment variables, then the
/// command line. A database password belongs in the file or Database:PasswordFile, not in --db.
/// </summary>
internal static class OmaOptions
{
    public const string DefaultConfigFile = "/etc/migratekit/oma.json";

    public static readonly Option<string?> Config = new("--config")
    {
        Description = $"Configuration file (JSON). Default: {DefaultConfigFile} when it exists.",
        Recursive = true,
    };

    public static readonly Option<string?> Db = new("--db")
    {
        Description = "MariaDB connection string (overrides MIGRATEKIT_DB and the file).",
        Recursive = true,
    };

    public static readonly Option<string?> ApiListen = new("--api-listen")
    {
        Description = "Admin REST API address (default 127.0.0.1:8082).",
        Recursive = true,
    };

    public static IReadOnlyList<Option> Global { get; } = [Config, Db, ApiListen];

    public static IConfigurationRoot BuildConfiguration(ParseResult parse)
    {
        var file = parse.GetValue(Config);
        if (file is not null && !File.Exists(file))
        {
            throw new ConfigurationErrorException($"Configuration file '{file}' does not exist.");
        }
        file ??= File.Exists(DefaultConfigFile) ? DefaultConfigFile : null;

        var builder = new ConfigurationBuilder();
        if (file is not null)
        {
            builder.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        }
        builder.AddEnvironmentVariables("MIGRATEKIT_");
        var overrides = new Dictionary<string, string?>();
        if (Environment.GetEnvironmentVariable("MIGRATEKIT_DB") is { Length: > 0 } envDb)
        {
            overrides["Database:ConnectionString"] = envDb;
        }
        if (parse.GetValue(Db) is { } db)
        {
            overrides["Database:ConnectionString"] = db;
        }
        if (parse.GetValue(ApiListen) is { } listen)
        {
            overrides["Api:Listen"] = listen;
        }
        builder.AddInMemoryCollection(overrides);
        var configuration = builder.Build();
        ApplyPasswordFile(configuration);
        return configuration;
    }

    /// <summary>Database:PasswordFile keeps the password off command lines and out of the config file.</summary>
    private static void ApplyPasswordFile(IConfigurationRoot configuration)
    {
        var passwordFile = configuration["Database:PasswordFile"];
        var connectionString = configuration["Database:ConnectionString"];
        if (string.IsNullOrEmpty(passwordFile) || string.IsNullOrEmpty(connectionString))
        {
            return;
        }
        if (!File.Exists(passwordFile))
        {
            throw new ConfigurationErrorException($"Database:PasswordFile '{passwordFile}' does not exist.");
        }
        var builder = new MySqlConnector.MySqlConnectionStringBuilder(connectionString)
        {
            Password = File.ReadAllText(passwordFile).TrimEnd('\r', '\n'),
        };
        configuration["Database:ConnectionString"] = builder.ConnectionString;
    }
}
