namespace MigrateKit.Modules.Core.Errors;

/// <summary>A request that failed validation; the API answers 400 listing each bad field.</summary>
public sealed class RequestValidationException(IReadOnlyDictionary<string, string[]> errors)
    : Exception("The request is invalid: " + string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")))
{
    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;
}

/// <summary>The thing asked for does not exist (404).</summary>
public sealed class NotFoundException(string message) : Exception(message);

/// <summary>The request conflicts with the current state, e.g. a VM that already has an active job (409).</summary>
public sealed class ConflictException(string message) : Exception(message);
