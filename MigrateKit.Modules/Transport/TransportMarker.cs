namespace MigrateKit.Modules.Transport;

/// <summary>Anchor type for assembly scanning and architecture tests.</summary>
public static class TransportAssembly
{
    public static readonly System.Reflection.Assembly Reference = typeof(TransportAssembly).Assembly;
}
