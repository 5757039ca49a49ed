using System.Globalization;
using System.Text.RegularExpressions;

namespace MigrateKit.Tests.Support.Ossea;

/// <summary>A request's parameters with ACS's parameter errors (431, same texts as ParamProcessWorker).</summary>
internal sealed partial class OsseaEmulatorParams(string command, IReadOnlyDictionary<string, string> values)
{
    public string Command { get; } = command;

    public IReadOnlyDictionary<string, string> Values { get; } = values;

    public string? Optional(string name) => Values.TryGetValue(name, out var value) && value.Length > 0 ? value : null;

    public string Required(string name)
        => Optional(name) ?? throw EmulatorApiError.Param(
            $"Unable to execute API command {Command.ToLowerInvariant()} due to missing parameter {name}");

    public EmulatorApiError InvalidValue(string name, string value)
        => EmulatorApiError.Param(
            $"Unable to execute API command {Command.ToLowerInvariant()} due to invalid value. Invalid parameter {name} value={value} " +
            "due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.");

    public long? Long(string name)
    {
        var text = Optional(name);
        if (text is null)
        {
            return null;
        }

        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw InvalidValue(name, text);
    }

    public bool Bool(string name, bool fallback)
    {
        var text = Optional(name);
        return text is null ? fallback : bool.TryParse(text, out var value) ? value : throw InvalidValue(name, text);
    }

    /// <summary>Looks up an entity by UUID; unknown → 431 like ACS's UUID translation.</summary>
    public T Entity<T>(string name, Func<string, T?> find, bool required = true)
        where T : class
    {
        var id = required ? Required(name) : Optional(name);
        if (id is null)
        {
            return null!;
        }

        return find(id) ?? throw InvalidValue(name, id);
    }

    /// <summary><c>name[i].field=value</c> map parameters grouped by index.</summary>
    public SortedDictionary<int, Dictionary<string, string>> Map(string name)
    {
        var groups = new SortedDictionary<int, Dictionary<string, string>>();
        foreach (var (key, value) in Values)
        {
            var match = MapKey().Match(key);
            if (!match.Success || !match.Groups[1].Value.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var index = int.Parse(match.Groups[2].ValueSpan, CultureInfo.InvariantCulture);
            if (!groups.TryGetValue(index, out var group))
            {
                groups[index] = group = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            }

            group[match.Groups[3].Value] = value;
        }

        return groups;
    }

    [GeneratedRegex(@"^([a-zA-Z]+)\[(\d{1,4})\]\.(.+)$")]
    private static partial Regex MapKey();
}
