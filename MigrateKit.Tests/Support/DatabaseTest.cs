using MediatR;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MigrateKit.Modules.Core;
using MySqlConnector;

namespace MigrateKit.Tests.Support;

/// <summary>
/// Base for tests against the real MariaDB: each test starts from empty tables, and gets a
/// service provider with the Core module (more with <see cref="ConfigureServices"/>).
/// Not a [SetUpFixture]: tests that do not touch the database must not need one running.
/// </summary>
[NonParallelizable] // one shared database, reset before every test
public abstract class DatabaseTest
{
    private ServiceProvider? _services;

    protected ServiceProvider Services => _services ?? throw new InvalidOperationException("SetUp has not run.");

    protected FakeTimeProvider Time { get; private set; } = null!;

    protected static string ConnectionString => TestDatabase.ConnectionString;

    protected IConfiguration Configuration { get; private set; } = null!;

    [SetUp]
    public async Task ResetDatabaseAndServices()
    {
        await TestDatabase.ResetAsync();
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.FromMilliseconds(1) };
        Configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Database:ConnectionString"] = ConnectionString,
                ["Secrets:KeyFile"] = TestDirectories.SecretKeyFile,
            })
            .AddInMemoryCollection(ConfigurationOverrides())
            .Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(Time);
        services.AddCoreModule(Configuration);
        ConfigureServices(services);
        _services = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true });
    }

    [TearDown]
    public async Task DisposeServices()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
            _services = null;
        }
    }

    protected virtual IEnumerable<KeyValuePair<string, string?>> ConfigurationOverrides() => [];

    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    /// <summary>Sends through the whole MediatR pipeline, as a module would.</summary>
    protected async Task<T> SendAsync<T>(IRequest<T> request)
    {
        await using var scope = Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IMediator>().Send(request);
    }

    protected static async Task<MySqlConnection> OpenAsync()
    {
        var conn = new MySqlConnection(ConnectionString);
        await conn.OpenAsync();
        return conn;
    }
}
