import Foundation
import Logging
import ServiceLifecycle

/// Deletes expired events and closed incidents in the background (`RetentionPolicy`), a batch
/// per transaction so ingest never waits long; each pass that deleted something is on the audit
/// log. A failed pass is logged and tried again next time.
struct RetentionService: Service {
    let store: any CollectorStore
    let policy: RetentionPolicy
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Shutting down ends the wait between passes: that is a normal end, not a failure.
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    await pass()
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {}
    }

    func pass() async {
        do {
            let result = try await store.deleteExpired(policy, now: Date(), batch: 5_000)
            guard result.events + result.incidents > 0 else { return }
            logger.info("retention: deleted expired data", metadata: ["events": "\(result.events)", "incidents": "\(result.incidents)"])
            try? await store.audit(AuditEntry(
                actor: "collector", action: "retention.delete", target: "events older than their retention, closed incidents older than \(policy.incidentDays) days",
                outcome: "ok: \(result.events) events, \(result.incidents) incidents"))
        } catch is CancellationError {
        } catch {
            logger.error("retention pass failed; trying again in \(interval)", metadata: ["error": "\(error)"])
        }
    }
}
