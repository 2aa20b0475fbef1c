import BulwarkCore
import Foundation
import Logging
import NIOCore

/// Turns one `POST /v1/events` body into stored events: bounded inflate, decode, bind to the
/// authenticated agent, validate every event, store the batch whole or not at all.
public struct IngestService: Sendable {
    let committer: IngestCommitter
    let limits: CollectorLimits
    let catalog: EventCatalog
    let logger: Logger
    let metrics: CollectorMetrics?

    public init(store: any CollectorStore, limits: CollectorLimits, catalog: EventCatalog = .standard, logger: Logger, metrics: CollectorMetrics? = nil) {
        self.metrics = metrics
        self.committer = IngestCommitter(store: store)
        self.limits = limits
        self.catalog = catalog
        self.logger = logger
    }

    /// Ingests a compressed batch for the agent authenticated as `agentID`.
    public func ingest(compressed body: ByteBuffer, contentEncoding: String?, agentID: String) async throws(APIFailure) -> EventAck {
        guard contentEncoding?.lowercased() == "deflate" else {
            throw APIFailure(.badRequest, "encoding_required", "event batches must be sent with Content-Encoding: deflate (zlib); got \(contentEncoding.map { "'\($0)'" } ?? "none")")
        }
        let inflated: ByteBuffer
        do {
            inflated = try Deflate.inflate(body, limit: limits.maxInflatedBytes)
        } catch .limitExceeded(let limit) {
            throw APIFailure(.contentTooLarge, "inflated_too_large", "batch inflates past \(limit) bytes; send smaller batches")
        } catch {
            throw APIFailure(.badRequest, "invalid_deflate", "\(error)")
        }
        let parsed = inflated.withUnsafeReadableBytes { bytes in
            Result { () throws(EventBatch.ParseError) in try EventBatch.parse(bytes) }
        }
        let batch: EventBatch
        do {
            batch = try parsed.get()
        } catch {
            throw APIFailure(.badRequest, "invalid_json", "batch is not valid JSON of the documented shape: \(error)")
        }
        guard batch.agent == agentID else {
            throw APIFailure(.conflict, "agent_mismatch", "batch names agent \(batch.agent) but the client certificate is agent \(agentID); an agent may only send its own events")
        }
        guard batch.events.count <= limits.maxEventsPerBatch else {
            throw APIFailure(.contentTooLarge, "too_many_events", "batch holds \(batch.events.count) events; the limit is \(limits.maxEventsPerBatch)")
        }
        for event in batch.events {
            do {
                try catalog.validate(event)
            } catch let error {
                let code: String
                switch error {
                case .unknownType: code = "unknown_event_type"
                case .unsupportedVersion: code = "unsupported_schema_version"
                default: code = "invalid_event"
                }
                throw APIFailure(.badRequest, code, "event seq \(event.seq): \(error); nothing of this batch was stored")
            }
        }
        guard !batch.events.isEmpty else { return EventAck(acked: 0, stored: 0, duplicates: 0) }
        let prepared = IngestBatch(agentID: agentID, events: batch.events)
        do {
            let ack = try await committer.commit(prepared)
            // A batch that was all duplicates was counted when it first arrived.
            if ack.stored > 0 { metrics?.observeDecisions(batch.events) }
            return ack
        } catch {
            logger.error("cannot persist batch", metadata: ["agent": "\(agentID)", "batch": "\(batch.batch)", "error": "\(error)"])
            throw APIFailure(.serviceUnavailable, "store_unavailable", "the collector cannot persist events right now; keep the batch and retry later", retryAfterSeconds: 5)
        }
    }

    /// A one-line account of a decoding error, naming the path to the bad field.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return path.isEmpty ? "at top level" : "at \(path)"
        }
        switch error {
        case .dataCorrupted(let context): return "\(context.debugDescription) \(path(context))"
        case .keyNotFound(let key, let context): return "missing field '\(key.stringValue)' \(path(context))"
        case .typeMismatch(_, let context): return "\(context.debugDescription) \(path(context))"
        case .valueNotFound(_, let context): return "\(context.debugDescription) \(path(context))"
        @unknown default: return "\(error)"
        }
    }
}
