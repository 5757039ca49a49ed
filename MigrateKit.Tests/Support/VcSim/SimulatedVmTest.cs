using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Tests.Support.VcSim;

/// <summary>
/// Base for end-to-end tests against a VM of the govmomi simulator: one simulator per fixture
/// (its log is printed when a test failed), the real database reset before every test.
/// </summary>
public abstract class SimulatedVmTest : DatabaseTest
{
    /// <summary>The simulator's three-disk VM with two NICs (added by the harness).</summary>
    protected const string MultiDiskVmName = "mk-multi-disk";

    private protected VcSimInstance Sim { get; private set; } = null!;
    private protected VmInfo Vm { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartSimulatorAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        Sim = await VcSimInstance.StartAsync(new VcSimSettings(), cts.Token);
        await using var client = Sim.CreateClient();
        Vm = (await client.DiscoverVmsAsync(cts.Token)).Single(v => v.Name == MultiDiskVmName);
    }

    [OneTimeTearDown]
    public async Task StopSimulatorAsync()
    {
        if (TestContext.CurrentContext.Result.FailCount > 0)
        {
            await TestContext.Out.WriteLineAsync("vCenter simulator log:\n" + Sim.Log);
        }
        await Sim.DisposeAsync();
    }
}
