import BulwarkCore
import Foundation

/// `bulwark-agent selftest`: puts `agent.selftest` events into the spool of the local agent and
/// waits until the collector has acknowledged them, or says where they are stuck.
public struct SelfTest: Sendable {
    public enum Outcome: Sendable {
        case acknowledged(seqs: ClosedRange<UInt64>, after: Duration)
        case stuck(String)
    }

    public struct InvalidCount: Error, CustomStringConvertible {
        public var count: Int
        public var description: String { "a selftest sends at least one event; got --count \(count)" }
    }

    let state: AgentState

    public init(state: AgentState) {
        self.state = state
    }

    /// Spools `count` self-test events; returns their sequence numbers.
    public func emit(count: Int, nonce: String = UUID().uuidString) throws -> ClosedRange<UInt64> {
        _ = try state.loadEnrollment()
        let spool = try SpoolStore(path: state.spoolPath)
        var seqs: [UInt64] = []
        // Bounded transactions keep the spool responsive to the uploader.
        for start in stride(from: 0, to: count, by: 5_000) {
            let drafts = (start..<min(count, start + 5_000)).map { index in
                EventDraft(type: EventType.selftest, data: ["nonce": .string(nonce), "index": .number(Double(index))])
            }
            seqs += try spool.append(drafts)
        }
        guard let first = seqs.first, let last = seqs.last else { throw InvalidCount(count: count) }
        return first...last
    }

    /// Waits until every event up to `seqs.upperBound` has left the spool acknowledged.
    public func wait(for seqs: ClosedRange<UInt64>, timeout: Duration) async throws -> Outcome {
        let spool = try SpoolStore(path: state.spoolPath)
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < timeout {
            let status = try spool.status()
            if status.lastAckedSeq >= seqs.upperBound, try !spool.contains(seq: seqs.upperBound) {
                return .acknowledged(seqs: seqs, after: clock.now - start)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return .stuck(try diagnose(spool.status(), seqs: seqs))
    }

    /// Explains why the events were not acknowledged, from what the running agent recorded.
    func diagnose(_ status: SpoolStatus, seqs: ClosedRange<UInt64>) throws -> String {
        let waiting = "self-test events seq \(seqs.lowerBound)…\(seqs.upperBound) are spooled in \(state.spoolPath) (depth \(status.depth)) but not acknowledged"
        guard let pid = status.runnerPID, kill(pid, 0) == 0 else {
            return "\(waiting): no 'bulwark-agent run' is draining this spool; start it (systemctl start bulwark-agent, or bulwark-agent run --state \(state.directory))"
        }
        if let error = status.lastError {
            return "\(waiting): the running agent (pid \(pid)) cannot deliver them; its last upload error: \(error)"
        }
        return "\(waiting): the running agent (pid \(pid)) has not finished uploading; the spool may be large, try a longer --timeout"
    }
}
