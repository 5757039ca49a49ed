namespace MigrateKit.Modules.Vma.VSphere;

/// <summary>A vSphere managed object reference: type (e.g. <c>VirtualMachine</c>) and value (e.g. <c>vm-42</c>).</summary>
internal readonly record struct MoRef(string Type, string Value)
{
    public static MoRef Vm(string value) => new("VirtualMachine", value);

    public override string ToString() => $"{Type}:{Value}";
}
