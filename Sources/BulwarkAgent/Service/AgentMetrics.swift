import BulwarkCore
import Foundation
import Prometheus

/// The agent's Prometheus metrics (`metrics_listen` in agent.yaml, loopback only, off by
/// default): the spool, uploads, decisions and enforcement latency.
public final class AgentMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let decisions: DecisionMetrics
    private let spoolEvents: Gauge
    private let spoolBytes: Gauge
    private let dropped: Gauge
    private let quarantined: Gauge
    private let lastAck: Gauge

    public init() {
        func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "bulwark", subsystem: "agent", metricName: name, unitName: unit, helpText: help)
        }
        decisions = DecisionMetrics(registry: registry, subsystem: "agent")
        spoolEvents = registry.makeGauge(descriptor: descriptor("spool_events", "", "Events waiting in the spool for the collector."))
        spoolBytes = registry.makeGauge(descriptor: descriptor("spool", "bytes", "Bytes of events in the spool."))
        dropped = registry.makeGauge(descriptor: descriptor("dropped_events", "", "Telemetry events dropped from a full spool since it was created (decisions never are)."))
        quarantined = registry.makeGauge(descriptor: descriptor("quarantined_events", "", "Events the collector refused for good, set aside."))
        lastAck = registry.makeGauge(descriptor: descriptor("last_ack_timestamp", "seconds", "When the collector last acknowledged a batch (Unix time; 0: never)."))
    }

    /// Every event the agent spools: decisions are counted.
    public func observe(_ drafts: [EventDraft]) {
        for draft in drafts { decisions.observe(type: draft.type, data: draft.data) }
    }

    /// One upload attempt's outcome: `acked`, `refused` (the collector said no to the batch) or
    /// `failed` (unreachable, TLS, server trouble).
    public func upload(_ outcome: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "bulwark", subsystem: "agent", metricName: "uploads", unitName: "total",
                helpText: "Batch uploads to the collector by outcome (acked, refused, failed)."),
            labels: [("outcome", outcome)]
        ).increment()
    }

    /// The text exposition format, with the spool's state as of now.
    public func exposition(spool: SpoolStatus?) -> String {
        if let spool {
            spoolEvents.set(Double(spool.depth))
            spoolBytes.set(Double(spool.bytes))
            dropped.set(Double(spool.dropped))
            quarantined.set(Double(spool.quarantined))
            lastAck.set(spool.lastAckAt?.timeIntervalSince1970 ?? 0)
        }
        return registry.emitToString()
    }
}
