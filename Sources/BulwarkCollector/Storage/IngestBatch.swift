import BulwarkCore
import Foundation

/// A validated batch ready for storage: events already encoded, heartbeat fields extracted.
/// Preparing happens on the request's task, in parallel; the store's single writer only inserts.
public struct IngestBatch: Sendable {
    public struct Row: Sendable {
        public var seq: Int64
        public var time: Int64
        public var type: String
        public var v: Int
        /// The event's `data` as JSON text.
        public var data: String
        /// What the event says about an AI app, for the inventory (applied only when stored).
        public var sighting: InventorySighting?
        /// The warn or block decision the event reports (applied only when stored).
        public var incident: IncidentDraft?
    }

    /// Fields of the batch's latest heartbeat, applied to the agent's row.
    public struct Heartbeat: Sendable {
        public var agentVersion: String
        public var policyVersion: Int
        public var spoolDepth: Int
        public var dropped: Int
    }

    public let agentID: String
    public let rows: [Row]
    public let heartbeat: Heartbeat?
    /// Highest sequence number in the batch.
    public let highestSeq: UInt64
    /// The inventory changes of every row, applied when all of them are stored (rows that
    /// were duplicates are left out by summing the stored rows' sightings instead).
    let inventory: InventoryTally

    public init(agentID: String, events: [Event]) {
        self.agentID = agentID
        rows = events.map { event in
            Row(seq: Int64(event.seq), time: event.time.millis, type: event.type, v: event.v, data: JSONValue.object(event.data).jsonText,
                sighting: InventorySighting(event), incident: IncidentDraft(type: event.type, data: event.data))
        }
        heartbeat = events.last { $0.type == EventType.heartbeat }.map { beat in
            Heartbeat(
                agentVersion: beat.data["agent_version"]?.stringValue ?? "", policyVersion: beat.data["policy_version"]?.intValue ?? 0,
                spoolDepth: beat.data["spool_depth"]?.intValue ?? 0, dropped: beat.data["dropped"]?.intValue ?? 0)
        }
        highestSeq = events.map(\.seq).max() ?? 0
        var inventory = InventoryTally()
        for row in rows { if let sighting = row.sighting { inventory.add(sighting, agentID: agentID) } }
        self.inventory = inventory
    }

    /// The inventory changes of the rows stored now: all but the `duplicates` (row indices).
    func inventory(leavingOut duplicates: Set<Int>) -> InventoryTally {
        guard !duplicates.isEmpty else { return inventory }
        var tally = InventoryTally()
        for (index, row) in rows.enumerated() where !duplicates.contains(index) {
            if let sighting = row.sighting { tally.add(sighting, agentID: agentID) }
        }
        return tally
    }
}

/// Group commit: batches that arrive while a transaction is being written wait and go into the
/// next one together, so many agents sending small batches share one transaction and one fsync
/// instead of queueing for one each. Each batch is still stored whole or not at all: a failed
/// transaction fails every batch in it, and each agent retries its own. Up to the store's
/// `concurrentIngests` transactions run at once (SQLite: one).
public actor IngestCommitter {
    private let store: any CollectorStore
    private let maxEventsPerTransaction: Int
    private let maxTransactions: Int
    private var pending: [(batch: IngestBatch, continuation: CheckedContinuation<EventAck, any Error>)] = []
    private var writers = 0

    public init(store: any CollectorStore, maxEventsPerTransaction: Int = 20_000) {
        self.store = store
        self.maxEventsPerTransaction = maxEventsPerTransaction
        maxTransactions = max(1, store.concurrentIngests)
    }

    /// Stores `batch` (with whatever else is waiting) and returns its acknowledgement.
    public func commit(_ batch: IngestBatch) async throws -> EventAck {
        try await withCheckedThrowingContinuation { continuation in
            pending.append((batch, continuation))
            if writers < maxTransactions {
                writers += 1
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !pending.isEmpty {
            // Take whole batches up to the transaction size (always at least one).
            var taken = 0
            var events = 0
            while taken < pending.count, taken == 0 || events + pending[taken].batch.rows.count <= maxEventsPerTransaction {
                events += pending[taken].batch.rows.count
                taken += 1
            }
            let group = Array(pending.prefix(taken))
            pending.removeFirst(taken)
            do {
                let acks = try await store.ingest(group.map(\.batch), now: Date())
                for (entry, ack) in zip(group, acks) { entry.continuation.resume(returning: ack) }
            } catch {
                for entry in group { entry.continuation.resume(throwing: error) }
            }
        }
        writers -= 1
    }
}
