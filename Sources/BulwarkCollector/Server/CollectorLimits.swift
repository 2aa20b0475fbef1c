/// Explicit limits of the agent endpoint (docs/PROTOCOL.md). Every one is configurable.
public struct CollectorLimits: Sendable {
    /// Largest accepted compressed request body.
    public var maxCompressedBytes: Int = 4 * 1024 * 1024
    /// Largest body after inflation; a deflate bomb stops here.
    public var maxInflatedBytes: Int = 32 * 1024 * 1024
    /// Most events in one batch.
    public var maxEventsPerBatch: Int = 5_000
    /// Enrollment attempts per client address per second, and burst.
    public var enrollPerSecond: Double = 2
    public var enrollBurst: Double = 20
    /// Enrollment attempts per second across all clients, and burst.
    public var enrollGlobalPerSecond: Double = 50
    public var enrollGlobalBurst: Double = 200
    /// Lifetime of agent client certificates.
    public var agentCertificateDays: Double = 30

    public init() {}
}
