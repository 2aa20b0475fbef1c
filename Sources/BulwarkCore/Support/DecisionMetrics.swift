import Prometheus

/// Counts DLP decisions and their enforcement latency in a Prometheus registry, for the agent
/// (as it records them) and the collector (as agents report them), from the events themselves:
/// `paste.blocked` is surface `paste`, outcome `blocked`; `latency_ms` is how long the paste or
/// the AI tool's open waited for the decision.
public struct DecisionMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let subsystem: String

    /// The event families that are decisions.
    public static let surfaces: Set<Substring> = ["paste", "file"]
    static let latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

    /// - Parameter subsystem: `agent` or `collector`, the metric names' middle part.
    public init(registry: PrometheusCollectorRegistry, subsystem: String) {
        self.registry = registry
        self.subsystem = subsystem
    }

    /// Counts `type` if it is a decision; records its latency when it has one.
    public func observe(type: String, data: [String: JSONValue]) {
        guard let dot = type.firstIndex(of: "."), Self.surfaces.contains(type[..<dot]) else { return }
        let surface = String(type[..<dot])
        let outcome = String(type[type.index(after: dot)...])
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "bulwark", subsystem: subsystem, metricName: "decisions", unitName: "total",
                helpText: "DLP decisions by surface (paste, file) and outcome (allowed, audited, warned, overridden, blocked)."),
            labels: [("surface", surface), ("outcome", outcome)]
        ).increment()
        guard let milliseconds = data["latency_ms"]?.doubleValue, milliseconds >= 0 else { return }
        registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "bulwark", subsystem: subsystem, metricName: "enforcement_latency", unitName: "seconds",
                helpText: "How long a paste or an AI tool's open waited for the agent's decision."),
            labels: [("surface", surface)], buckets: Self.latencyBuckets
        ).record(milliseconds / 1000)
    }
}
