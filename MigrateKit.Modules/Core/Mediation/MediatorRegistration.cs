using System.Reflection;
using FluentValidation;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MigrateKit.Modules.Core.Mediation;

/// <summary>
/// MediatR 5.1.0 has no DI package that restores here, so this is the small assembly scan:
/// every request/notification handler and FluentValidation validator of a module assembly.
/// </summary>
public static class MediatorRegistration
{
    private static readonly Type[] HandlerInterfaces =
    [
        typeof(IRequestHandler<,>),
        typeof(INotificationHandler<>),
    ];

    /// <summary>Registers the mediator and the pipeline, outermost first: logging, validation, job log.</summary>
    public static IServiceCollection AddMigrateKitMediator(this IServiceCollection services)
    {
        services.TryAddScoped<ServiceFactory>(sp => sp.GetService!);
        services.TryAddScoped<IMediator, Mediator>();
        if (!services.Any(d => d.ServiceType == typeof(IPipelineBehavior<,>)))
        {
            // MediatR 5 wraps behaviours in registration order: the first one is the outermost.
            services.AddTransient(typeof(IPipelineBehavior<,>), typeof(LoggingBehavior<,>));
            services.AddTransient(typeof(IPipelineBehavior<,>), typeof(ValidationBehavior<,>));
            services.AddTransient(typeof(IPipelineBehavior<,>), typeof(JobLogBehavior<,>));
        }
        return services;
    }

    /// <summary>Registers the handlers and validators a module assembly declares.</summary>
    public static IServiceCollection AddModuleHandlers(this IServiceCollection services, Assembly assembly)
    {
        services.AddMigrateKitMediator();
        foreach (var type in assembly.GetTypes())
        {
            if (type.IsAbstract || type.IsInterface || type.IsGenericTypeDefinition)
            {
                continue;
            }
            foreach (var contract in type.GetInterfaces())
            {
                if (contract.IsGenericType && HandlerInterfaces.Contains(contract.GetGenericTypeDefinition()))
                {
                    services.TryAddEnumerable(ServiceDescriptor.Transient(contract, type));
                }
            }
        }
        services.AddValidatorsFromAssembly(assembly, ServiceLifetime.Singleton, includeInternalTypes: true);
        return services;
    }
}
