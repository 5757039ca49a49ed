namespace MigrateKit.Tests.Support;

/// <summary>
/// The kind of every test fixture, as an NUnit category (<c>scripts/test --kind K</c>). Each fixture
/// has exactly one; <c>TestLayoutTests</c> checks it.
/// </summary>
internal static class TestKind
{
    /// <summary>One process: no database, no external program (in-process loopback sockets are fine).</summary>
    public const string Unit = "Unit";

    /// <summary>Needs the test MariaDB, and nothing else outside the process.</summary>
    public const string Database = "Database";

    /// <summary>Talks to an external peer: nbdkit, nbdinfo, nbdcopy, qemu-img, losetup or the vCenter simulator.</summary>
    public const string Peer = "Peer";

    /// <summary>The OMA, the agent, the simulator and the OSSEA emulator together, through the whole path.</summary>
    public const string EndToEnd = "EndToEnd";

    /// <summary>Install and publish scripts, systemd units, release artifacts.</summary>
    public const string Install = "Install";

    /// <summary>The lab script, end to end.</summary>
    public const string Lab = "Lab";

    public static readonly IReadOnlyList<string> All = [Unit, Database, Peer, EndToEnd, Install, Lab];
}
