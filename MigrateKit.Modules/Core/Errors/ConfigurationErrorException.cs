namespace MigrateKit.Modules.Core.Errors;

/// <summary>A configuration value an operator must fix; the message names the key and the bad value.</summary>
public sealed class ConfigurationErrorException(string message) : Exception(message);
