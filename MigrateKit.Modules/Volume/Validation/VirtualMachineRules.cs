using System.Runtime.ExceptionServices;
using System.Text.Json;
using FluentValidation;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;

namespace MigrateKit.Modules.Volume.Validation;

/// <summary>Rules shared by the VM validators.</summary>
internal static class VirtualMachineRules
{
    /// <summary>
    /// OSSEA's (CloudStack's) host name rule for VM names: ASCII letters, digits and '-', 1-63 characters,
    /// starting with a letter and not ending with '-'. Checked here so a bad name is a 400, not an OSSEA 431.
    /// </summary>
    public const string HostNamePattern = "^[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

    public static IRuleBuilderOptions<T, string> OsseaId<T>(this IRuleBuilder<T, string> rule) => rule.NotEmpty().MaximumLength(64);

    public static IRuleBuilderOptions<T, string> VmHostName<T>(this IRuleBuilder<T, string> rule) => rule.NotEmpty().Matches(HostNamePattern)
        .WithMessage("Name must be 1-63 ASCII letters, digits or '-', start with a letter and not end with '-' (OSSEA host name rule).");
}
