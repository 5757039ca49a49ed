using System.Net;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>Log messages of the tunnel (never secrets: no tokens, no keys).</summary>
internal static partial class TunnelLog
{
    [LoggerMessage(EventId = 4000, EventName = "TunnelListening", Level = LogLevel.Information, Message = "Tunnel listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(EventId = 4001, EventName = "TunnelConnectionRejected", Level = LogLevel.Warning, Message = "Tunnel connection from {Remote} rejected: {Reason}")]
    public static partial void ConnectionRejected(ILogger logger, EndPoint? remote, string reason);

    [LoggerMessage(EventId = 4002, EventName = "TunnelAgentConnected", Level = LogLevel.Information, Message = "Agent {Agent} connected from {Remote} (certificate {Fingerprint})")]
    public static partial void AgentConnected(ILogger logger, string agent, EndPoint? remote, string fingerprint);

    [LoggerMessage(EventId = 4003, EventName = "TunnelConnectionClosed", Level = LogLevel.Information, Message = "Tunnel connection {Connection} closed: {Reason}")]
    public static partial void ConnectionClosed(ILogger logger, string connection, string reason);

    [LoggerMessage(EventId = 4004, EventName = "TunnelProtocolViolation", Level = LogLevel.Warning, Message = "Tunnel connection {Connection} closed for a protocol violation: {Reason}")]
    public static partial void ProtocolViolation(ILogger logger, string connection, string reason);

    [LoggerMessage(EventId = 4005, EventName = "TunnelStreamRefused", Level = LogLevel.Information, Message = "Tunnel connection {Connection} refused stream {StreamId}: {Reason}")]
    public static partial void StreamRefused(ILogger logger, string connection, uint streamId, string reason);

    [LoggerMessage(EventId = 4006, EventName = "TunnelHandlerFailed", Level = LogLevel.Warning, Message = "Tunnel service {Service} failed on stream {StreamId} of {Connection}")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string service, uint streamId, string connection);

    [LoggerMessage(EventId = 4007, EventName = "TunnelGoAwayReceived", Level = LogLevel.Information, Message = "Tunnel connection {Connection}: peer is going away (code {Code}): {Reason}")]
    public static partial void GoAwayReceived(ILogger logger, string connection, uint code, string reason);

    [LoggerMessage(EventId = 4008, EventName = "TunnelClientConnected", Level = LogLevel.Information, Message = "Tunnel connected to {Remote} (slot {Slot})")]
    public static partial void ClientConnected(ILogger logger, string remote, int slot);

    [LoggerMessage(EventId = 4009, EventName = "TunnelClientConnectFailed", Level = LogLevel.Warning, Message = "Tunnel connection to {Remote} (slot {Slot}) failed, retrying in {Delay}: {Reason}")]
    public static partial void ClientConnectFailed(ILogger logger, string remote, int slot, TimeSpan delay, string reason);

    [LoggerMessage(EventId = 4010, EventName = "TunnelAgentDisconnected", Level = LogLevel.Information, Message = "Disconnecting agent {Agent}: {Reason}")]
    public static partial void AgentDisconnecting(ILogger logger, string agent, string reason);

    [LoggerMessage(EventId = 4011, EventName = "TunnelForwardListening", Level = LogLevel.Information, Message = "Forwarding {EndPoint} to tunnel service {Service}")]
    public static partial void ForwardListening(ILogger logger, EndPoint endPoint, string service);

    [LoggerMessage(EventId = 4012, EventName = "TunnelForwardFailed", Level = LogLevel.Warning, Message = "Forwarded connection from {Remote} to service {Service} ended: {Reason}")]
    public static partial void ForwardFailed(ILogger logger, EndPoint? remote, string service, string reason);

    [LoggerMessage(EventId = 4013, EventName = "TunnelEnrollmentRejected", Level = LogLevel.Warning, Message = "Enrollment from {Remote} rejected: {Reason}")]
    public static partial void EnrollmentRejected(ILogger logger, EndPoint? remote, string reason);

    [LoggerMessage(EventId = 4014, EventName = "TunnelAgentEnrolled", Level = LogLevel.Information, Message = "Agent {Agent} enrolled from {Remote}: certificate {Fingerprint} serial {Serial} valid until {NotAfter}")]
    public static partial void AgentEnrolled(ILogger logger, string agent, EndPoint? remote, string fingerprint, string serial, DateTimeOffset notAfter);
}
