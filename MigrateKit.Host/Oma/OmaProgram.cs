namespace MigrateKit.Host.Oma;

public static class OmaProgram
{
    public static int Main(string[] args) => 0;
}
