import BulwarkCore
import Foundation
import Prometheus

/// The collector's Prometheus metrics, served at `GET /metrics` on the API listener
/// (docs/DEPLOY.md "Metrics"): ingest, refusals by reason, decisions and enforcement latency
/// as agents report them, and the fleet's state at scrape time.
public final class CollectorMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let eventsStored: Counter
    private let eventsDuplicate: Counter
    private let batchesAccepted: Counter
    private let ackLatency: DurationHistogram
    private let agentsEnrolled: Gauge
    private let agentsConnected: Gauge
    private let agentsStale: Gauge
    private let agentsRevoked: Gauge
    private let agentsDropped: Gauge
    private let agentsBacklog: Gauge
    private let decisions: DecisionMetrics

    /// An agent heard from within this long counts as connected.
    static let connectedWindow: TimeInterval = 300

    public init() {
        decisions = DecisionMetrics(registry: registry, subsystem: "collector")
        func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "bulwark", subsystem: "collector", metricName: name, unitName: unit, helpText: help)
        }
        eventsStored = registry.makeCounter(descriptor: descriptor("events_stored", "total", "Events agents sent that were stored (new, not duplicates)."))
        eventsDuplicate = registry.makeCounter(descriptor: descriptor("events_duplicate", "total", "Events received again (a batch re-sent after a lost acknowledgement) and skipped."))
        batchesAccepted = registry.makeCounter(descriptor: descriptor("batches_accepted", "total", "Event batches stored and acknowledged."))
        ackLatency = registry.makeDurationHistogram(
            descriptor: descriptor("batch_ack", "seconds", "Time from a batch's arrival to its acknowledgement (read, inflate, validate, commit)."), labels: [],
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                      .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5)])
        agentsEnrolled = registry.makeGauge(descriptor: descriptor("agents_enrolled", "", "Enrolled agents, revoked ones excluded."))
        agentsConnected = registry.makeGauge(descriptor: descriptor("agents_connected", "", "Agents heard from in the last 5 minutes."))
        agentsStale = registry.makeGauge(descriptor: descriptor("agents_stale", "", "Agents without a heartbeat for longer than stale_after."))
        agentsRevoked = registry.makeGauge(descriptor: descriptor("agents_revoked", "", "Revoked agents."))
        agentsDropped = registry.makeGauge(descriptor: descriptor("agent_dropped_events", "", "Telemetry events agents report they dropped from a full spool (sum of their last heartbeats)."))
        agentsBacklog = registry.makeGauge(descriptor: descriptor("agent_spool_events", "", "Events waiting in agents' spools (sum of their last heartbeats)."))
    }

    /// A batch stored and acknowledged after `elapsed`.
    func accepted(_ ack: EventAck, elapsed: Duration) {
        batchesAccepted.increment()
        eventsStored.increment(by: Int64(ack.stored))
        eventsDuplicate.increment(by: Int64(ack.duplicates))
        ackLatency.record(elapsed)
    }

    /// A batch refused, by the error code the agent got (`invalid_json`, `store_unavailable`, …).
    func rejected(reason: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "bulwark", subsystem: "collector", metricName: "batches_rejected", unitName: "total",
                helpText: "Event batches refused, by the error code the agent was given."),
            labels: [("reason", reason)]
        ).increment()
    }

    /// Decisions the agents report, with their enforcement latency.
    func observeDecisions(_ events: [Event]) {
        for event in events { decisions.observe(type: event.type, data: event.data) }
    }

    /// Sets the fleet gauges from the agents table (at scrape time).
    func refresh(agents: [AgentRecord], health: AgentHealth, now: Date) {
        let active = agents.filter { $0.revokedAt == nil }
        agentsEnrolled.set(Double(active.count))
        agentsRevoked.set(Double(agents.count - active.count))
        agentsConnected.set(Double(active.filter { now.timeIntervalSince($0.lastSeen ?? .distantPast) <= Self.connectedWindow }.count))
        agentsStale.set(Double(active.filter { health.isStale($0, now: now) }.count))
        agentsDropped.set(Double(active.reduce(0) { $0 + $1.dropped }))
        agentsBacklog.set(Double(active.reduce(0) { $0 + $1.spoolDepth }))
    }

    /// The text exposition format.
    public func exposition() -> String { registry.emitToString() }
}
