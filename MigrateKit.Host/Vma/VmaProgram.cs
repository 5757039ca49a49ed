namespace MigrateKit.Host.Vma;

public static class VmaProgram
{
    public static int Main(string[] args) => 0;
}
