using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Vma.VSphere;

internal static class VSphereRegistration
{
    /// <summary>
    /// Registers one shared <see cref="VSphereClient"/> built from configuration section
    /// <c>VSphere</c> (Address, User, PasswordFile, Thumbprint, RequestTimeout, TaskTimeout).
    /// The options are validated when the client is first resolved. With an address configured it
    /// also runs <see cref="VSphereKeepAliveService"/>.
    /// </summary>
    internal static IServiceCollection AddVSphereClient(IServiceCollection services, IConfiguration configuration)
    {
        var options = new VSphereOptions();
        configuration.GetSection("VSphere").Bind(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton(sp => new VSphereClient(
            sp.GetRequiredService<VSphereOptions>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILogger<VSphereClient>>()));
        if (!string.IsNullOrWhiteSpace(options.Address))
        {
            services.AddHostedService<VSphereKeepAliveService>();
        }
        return services;
    }
}
