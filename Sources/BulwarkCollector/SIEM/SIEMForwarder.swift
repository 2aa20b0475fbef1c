import BulwarkCore
import Foundation
import Logging
import ServiceLifecycle

/// Streams every stored event, in order, to one SIEM: batches after a persisted cursor, moved
/// only once the SIEM has the batch, so a collector restart or a SIEM outage loses nothing and
/// at worst sends a batch twice (at least once). A failing SIEM is retried with backoff.
struct SIEMForwarder: Service {
    let store: any CollectorStore
    let transport: any SIEMTransport
    let logger: Logger
    var batchSize = 500
    var idle: Duration = .seconds(1)
    var backoff = Backoff(base: 1, cap: 60)

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await forward() }
        } catch is CancellationError {}
        await transport.close()
    }

    /// A batch written to a stream without acknowledgements counts as delivered once its
    /// connection outlived the write by this long (a receiver that died meanwhile shows up as a
    /// closed connection within it); until then the cursor stays put, and if the connection
    /// drops the batch is sent again.
    var settle: Duration = .milliseconds(500)

    private func forward() async throws {
        var failures = 0
        var hostnames: [String: String] = [:]
        var sent = try await store.siemCursor(transport.name)  // what was handed over
        var unconfirmed: [(id: Int64, generation: Int, at: ContinuousClock.Instant)] = []
        // Every event up to here is committed (`latestEventID`), so paging to it skips nothing.
        var watermark: Int64 = 0
        while !Task.isCancelled {
            do {
                // Confirm what outlived the settle time; after a dropped connection, rewind.
                if let first = unconfirmed.first, !transport.isAlive(first.generation) {
                    sent = try await store.siemCursor(transport.name)
                    unconfirmed.removeAll()
                    logger.warning("SIEM connection dropped; resending what it may not have received", metadata: ["siem": "\(transport.name)"])
                }
                let settled = unconfirmed.prefix { ContinuousClock.now - $0.at >= settle }
                if let last = settled.last {
                    try await store.setSIEMCursor(transport.name, eventID: last.id, at: Date())
                    unconfirmed.removeFirst(settled.count)
                }
                // A new watermark only once the last is reached: on PostgreSQL reading one makes
                // the ingests starting meanwhile wait for those in flight.
                if sent >= watermark { watermark = try await store.latestEventID() }
                var query = EventQuery(afterID: sent, limit: batchSize)
                query.throughID = watermark
                let events = try await store.rawEvents(query)
                guard let last = events.last else {
                    // Nothing left below it (ids have gaps: rolled-back inserts): read a new one.
                    watermark = 0
                    try await Task.sleep(for: unconfirmed.isEmpty ? idle : min(idle, settle))
                    continue
                }
                if events.contains(where: { hostnames[$0.agent] == nil && $0.agent != EventType.collectorAgent }) {
                    hostnames = Dictionary(try await store.agents().map { ($0.id, $0.hostname) }, uniquingKeysWith: { $1 })
                }
                if let generation = try await transport.deliver(events, hostnames: hostnames) {
                    unconfirmed.append((last.id, generation, .now))
                } else {
                    try await store.setSIEMCursor(transport.name, eventID: last.id, at: Date())
                }
                sent = last.id
                if failures > 0 { logger.notice("SIEM reachable again; forwarding resumed", metadata: ["siem": "\(transport.name)"]) }
                failures = 0
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                failures += 1
                // Nothing unconfirmed counts: start again from the last confirmed event.
                sent = (try? await store.siemCursor(transport.name)) ?? sent
                unconfirmed.removeAll()
                let delay = backoff.delay(attempt: failures)
                if failures == 1 || failures % 20 == 0 {
                    logger.error("SIEM forwarding failed; events wait in the store and are sent when it answers",
                                 metadata: ["siem": "\(transport.name)", "error": "\(error)", "retry_in_s": "\(Int(delay.rounded()))"])
                }
                try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            }
        }
    }
}
