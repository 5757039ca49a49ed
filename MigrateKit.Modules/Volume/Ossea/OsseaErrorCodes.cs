namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// CloudStack <c>ApiErrorCode</c> values (the server also uses them as the HTTP status) and the
/// client's rule for which of them are worth retrying.
/// </summary>
internal static class OsseaErrorCodes
{
    /// <summary>No HTTP response at all (connection refused, reset, timeout).</summary>
    public const int NoResponse = 0;
    public const int Unauthorized = 401;
    public const int MethodNotAllowed = 405;
    public const int ApiLimitExceeded = 429;
    public const int MalformedParameter = 430;
    public const int ParamError = 431;
    public const int UnsupportedAction = 432;
    public const int InternalError = 530;
    public const int AccountError = 531;
    public const int AccountResourceLimit = 532;
    public const int InsufficientCapacity = 533;
    public const int ResourceUnavailable = 534;
    public const int ResourceAllocation = 535;
    public const int ResourceInUse = 536;
    public const int NetworkRuleConflict = 537;

    // Proxy / load-balancer statuses in front of the management server.
    public const int BadGateway = 502;
    public const int ServiceUnavailable = 503;
    public const int GatewayTimeout = 504;

    /// <summary>The ApiErrorCode name of a code, for messages (e.g. 431 → PARAM_ERROR).</summary>
    public static string Name(int code) => code switch
    {
        NoResponse => "NO_RESPONSE",
        Unauthorized => "UNAUTHORIZED",
        MethodNotAllowed => "METHOD_NOT_ALLOWED",
        ApiLimitExceeded => "API_LIMIT_EXCEED",
        MalformedParameter => "MALFORMED_PARAMETER_ERROR",
        ParamError => "PARAM_ERROR",
        UnsupportedAction => "UNSUPPORTED_ACTION_ERROR",
        InternalError => "INTERNAL_ERROR",
        AccountError => "ACCOUNT_ERROR",
        AccountResourceLimit => "ACCOUNT_RESOURCE_LIMIT_ERROR",
        InsufficientCapacity => "INSUFFICIENT_CAPACITY_ERROR",
        ResourceUnavailable => "RESOURCE_UNAVAILABLE_ERROR",
        ResourceAllocation => "RESOURCE_ALLOCATION_ERROR",
        ResourceInUse => "RESOURCE_IN_USE_ERROR",
        NetworkRuleConflict => "NETWORK_RULE_CONFLICT_ERROR",
        BadGateway => "BAD_GATEWAY",
        ServiceUnavailable => "SERVICE_UNAVAILABLE",
        GatewayTimeout => "GATEWAY_TIMEOUT",
        _ => "HTTP_" + code.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// Whether a failed call may be sent again unchanged.
    /// <list type="bullet">
    /// <item>429 (API throttling), 502/503/504 (proxy or a management server in maintenance that
    /// "can not accept new jobs"): the server refused before executing anything, so any call may retry.</item>
    /// <item>530 (INTERNAL_ERROR): retried only for read-only calls (list*, queryAsyncJobResult). For a
    /// state-changing call 530 can come after part of the work was done, so a blind retry could
    /// duplicate or conflict; the caller decides.</item>
    /// <item>Everything else (401 bad credentials, 431 bad parameters, 432, 531-537) is permanent:
    /// sending the same request again gives the same answer.</item>
    /// </list>
    /// </summary>
    public static bool IsTransient(int code, bool readOnly) => code switch
    {
        ApiLimitExceeded or BadGateway or ServiceUnavailable or GatewayTimeout => true,
        InternalError => readOnly,
        _ => false,
    };
}
