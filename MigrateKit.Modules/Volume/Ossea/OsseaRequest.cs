using System.Globalization;

namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>One CloudStack API call: the command, its parameters, and whether it only reads.</summary>
internal sealed class OsseaRequest
{
    // Parameters that must never sit in a URL (proxy logs, browser history): they force a POST form.
    private static readonly HashSet<string> SensitiveParameters = new(StringComparer.OrdinalIgnoreCase)
    {
        "password", "userdata",
    };

    private readonly Dictionary<string, string> _parameters = new(StringComparer.Ordinal);

    public OsseaRequest(string command, bool readOnly)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(command);
        Command = command;
        ReadOnly = readOnly;
    }

    public string Command { get; }

    /// <summary>Read-only calls (list*, queryAsyncJobResult) may be repeated after any transient failure.</summary>
    public bool ReadOnly { get; }

    public IReadOnlyDictionary<string, string> Parameters => _parameters;

    public bool RequiresPost => _parameters.Keys.Any(SensitiveParameters.Contains);

    public OsseaRequest Add(string name, string? value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (value is null)
        {
            return this;
        }

        if (value.Any(char.IsControl))
        {
            throw new ArgumentException($"Parameter '{name}' contains control characters.", nameof(value));
        }

        if (!_parameters.TryAdd(name, value))
        {
            throw new ArgumentException($"Parameter '{name}' was already set.", nameof(name));
        }

        return this;
    }

    public OsseaRequest Add(string name, long? value)
        => Add(name, value?.ToString(CultureInfo.InvariantCulture));

    public OsseaRequest Add(string name, bool? value)
        => Add(name, value is null ? null : value.Value ? "true" : "false");
}
