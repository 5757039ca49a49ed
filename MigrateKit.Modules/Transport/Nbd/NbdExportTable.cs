using System.Collections.Immutable;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>One export: a name clients ask for and the file or block device behind it.</summary>
public sealed record NbdExportDefinition
{
    public NbdExportDefinition(string name, string path, bool readOnly = false, string? description = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(name);
        if (System.Text.Encoding.UTF8.GetByteCount(name) > NbdWire.MaxStringLength || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"export name must be at most {NbdWire.MaxStringLength} UTF-8 bytes without NUL", nameof(name));
        }
        Name = name;
        Path = path;
        ReadOnly = readOnly;
        Description = description;
    }

    public string Name { get; }
    public string Path { get; }
    public bool ReadOnly { get; }
    public string? Description { get; }
}

/// <summary>
/// The exports a server offers, changeable at run time. A change only affects connections that
/// negotiate afterwards: a connection keeps the file it opened until it disconnects.
/// </summary>
public sealed class NbdExportTable
{
    private ImmutableSortedDictionary<string, NbdExportDefinition> _exports =
        ImmutableSortedDictionary<string, NbdExportDefinition>.Empty.WithComparers(StringComparer.Ordinal);

    public NbdExportTable()
    {
    }

    public NbdExportTable(IEnumerable<NbdExportDefinition> exports)
    {
        foreach (var export in exports)
        {
            Set(export);
        }
    }

    /// <summary>Adds the export or replaces the one with the same name.</summary>
    public void Set(NbdExportDefinition export)
    {
        ArgumentNullException.ThrowIfNull(export);
        ImmutableInterlocked.Update(ref _exports, static (map, e) => map.SetItem(e.Name, e), export);
    }

    /// <summary>Removes an export; returns false when there was none of that name.</summary>
    public bool Remove(string name)
    {
        while (true)
        {
            var current = Volatile.Read(ref _exports);
            if (!current.ContainsKey(name))
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _exports, current.Remove(name), current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>Replaces the whole table at once (a reload), keeping running connections.</summary>
    public void ReplaceAll(IEnumerable<NbdExportDefinition> exports)
    {
        var builder = ImmutableSortedDictionary.CreateBuilder<string, NbdExportDefinition>(StringComparer.Ordinal);
        foreach (var export in exports)
        {
            builder[export.Name] = export;
        }
        Volatile.Write(ref _exports, builder.ToImmutable());
    }

    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out NbdExportDefinition? export)
        => Volatile.Read(ref _exports).TryGetValue(name, out export);

    /// <summary>A consistent snapshot of the current exports, ordered by name.</summary>
    public IReadOnlyList<NbdExportDefinition> Snapshot() => [.. Volatile.Read(ref _exports).Values];
}
