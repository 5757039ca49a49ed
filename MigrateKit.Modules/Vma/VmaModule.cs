using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MigrateKit.Modules.Vma;

/// <summary>The VMA agent's services: vCenter client, disk readers, streaming, the agent API.</summary>
public static class VmaModule
{
    public static IServiceCollection AddVmaModule(this IServiceCollection services, IConfiguration configuration)
    {
        return services;
    }
}
