import BulwarkCore
import Crypto
import Foundation
import Logging
import NIOCore
import X509

/// Drains the spool to the collector: batches of at most `batchMaxEvents` / `batchMaxBytes`,
/// deflated, posted over mTLS; deletes only what the collector acknowledged; retries transient
/// failures with backoff; isolates events the collector refuses for good by halving the batch
/// until the culprit stands alone, then quarantines it. Renews the client certificate before
/// it expires.
public struct Uploader: Sendable {
    let state: AgentState
    let spool: SpoolStore
    let configuration: AgentConfiguration
    let logger: Logger
    let metrics: AgentMetrics?
    /// The connection shared with the policy sync; nil: the uploader makes its own.
    let link: CollectorLink?

    public init(
        state: AgentState, spool: SpoolStore, configuration: AgentConfiguration, logger: Logger, metrics: AgentMetrics? = nil, link: CollectorLink? = nil
    ) {
        self.metrics = metrics
        self.link = link
        self.state = state
        self.spool = spool
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until the task is cancelled.
    public func run() async throws {
        let enrollment = try state.loadEnrollment()
        let key = try state.loadKey()
        let backoff = Backoff(base: configuration.retryBase, cap: configuration.retryCap)
        // A link of its own (none given) is the uploader's to shut down, however the loop ends.
        let own = self.link == nil ? CollectorLink(state: state, connectTimeout: configuration.connectTimeout) : nil
        guard let link = self.link ?? own else { return }
        var failure: (any Error)?
        do { try await loop(link: link, enrollment: enrollment, key: key, backoff: backoff) } catch { failure = error }
        await own?.shutdown()
        if let failure { throw failure }
    }

    private func loop(link: CollectorLink, enrollment: AgentState.Enrollment, key: P256.Signing.PrivateKey, backoff: Backoff) async throws {
        var failures = 0
        var batchLimit = configuration.batchMaxEvents
        var lastRenewalAttempt: ContinuousClock.Instant?
        var lastRenewalCheck: ContinuousClock.Instant?
        while !Task.isCancelled {
            // The certificate is looked at every few seconds, not per batch (it reads files and
            // checks a signature); at most one renewal attempt a minute, so a collector that issues
            // certificates shorter than the renewal threshold cannot put the agent into a loop.
            // A renewed certificate reaches the link's next client.
            let now = ContinuousClock.now
            if lastRenewalCheck.map({ now - $0 >= Self.renewalCheckInterval }) ?? true,
               lastRenewalAttempt.map({ now - $0 > .seconds(60) }) ?? true {
                lastRenewalCheck = now
                if certificateNeedsRenewal(enrollment: enrollment), let client = try? link.client() {
                    lastRenewalAttempt = now
                    await renew(client: client, key: key)
                }
            }
            let next: SpoolBatch?
            do {
                next = try spool.nextBatch(maxEvents: batchLimit, maxBytes: configuration.batchMaxBytes)
            } catch {
                failures += 1
                try await spoolTrouble(error, attempt: failures, backoff: backoff)
                continue
            }
            guard let batch = next else {
                try await Task.sleep(for: .seconds(configuration.pollInterval))
                continue
            }
            let client: CollectorClient
            do {
                client = try link.client()
            } catch {
                failures += 1
                let delay = backoff.delay(attempt: failures)
                logger.error("cannot set up the connection to the collector; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(Int(delay.rounded()))"])
                try await Task.sleep(for: .seconds(delay))
                continue
            }
            do {
                try await deliver(batch, client: client, agentID: enrollment.agentID)
                if failures > 0 { logger.info("collector reachable again; upload resumed", metadata: ["after_failures": "\(failures)"]) }
                failures = 0
                batchLimit = min(configuration.batchMaxEvents, batchLimit * 2)
            } catch let error as CollectorError {
                try? spool.recordAttempt(error: error.description)
                metrics?.upload(error.isTransient ? "failed" : "refused")
                switch error {
                case .rejected(let status, let body) where [400, 409, 413].contains(status):
                    // The collector stores a batch whole or not at all, so one bad event blocks the
                    // rest: halve until it is alone, then set it aside.
                    if batch.count > 1 {
                        batchLimit = max(1, batch.count / 2)
                    } else {
                        logger.error("collector refused event; quarantined", metadata: ["seq": "\(batch.firstSeq)", "code": "\(body.code)", "reason": "\(body.message)"])
                        do {
                            try spool.quarantine(seq: batch.firstSeq, reason: "\(status) \(body.code): \(body.message)")
                        } catch {
                            failures += 1
                            try await spoolTrouble(error, attempt: failures, backoff: backoff)
                        }
                    }
                default:
                    failures += 1
                    let delay = backoff.delay(attempt: failures)
                    logger.warning("upload failed; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(Int(delay.rounded()))"])
                    try await Task.sleep(for: .seconds(delay))
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // The spool itself failed (disk full, I/O error). Nothing acknowledged is lost: an
                // acknowledged batch that could not be deleted is sent again and deduplicated.
                failures += 1
                try await spoolTrouble(error, attempt: failures, backoff: backoff)
            }
        }
    }

    /// Logs a spool failure and waits before the next try, so a full disk does not stop the agent.
    private func spoolTrouble(_ error: any Error, attempt: Int, backoff: Backoff) async throws {
        let delay = backoff.delay(attempt: attempt)
        logger.error("spool unavailable; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(Int(delay.rounded()))"])
        try? spool.recordAttempt(error: "spool: \(error)")
        try await Task.sleep(for: .seconds(delay))
    }

    /// Sends what the spool holds, once, for at most `time` (a stopping agent's last words, the
    /// package's removal): returns the number of events acknowledged. Failures leave the events
    /// in the spool for the next run.
    @discardableResult
    public func flush(within time: Duration) async -> Int {
        guard let enrollment = try? state.loadEnrollment() else { return 0 }
        // The running agent's connection when there is one: it is already set up.
        let own = self.link == nil ? CollectorLink(state: state, connectTimeout: configuration.connectTimeout) : nil
        guard let link = self.link ?? own else { return 0 }
        guard let client = try? link.client() else {
            await own?.shutdown()
            return 0
        }
        let deadline = ContinuousClock.now + time
        let work = Task { () -> Int in
            var delivered = 0
            do {
                while ContinuousClock.now < deadline, let batch = try spool.nextBatch(maxEvents: configuration.batchMaxEvents, maxBytes: configuration.batchMaxBytes) {
                    try await deliver(batch, client: client, agentID: enrollment.agentID)
                    delivered += batch.count
                }
            } catch {
                logger.warning("last delivery before stopping failed; the events stay in the spool", metadata: ["error": "\(error)"])
            }
            return delivered
        }
        // The HTTP client's own timeouts are longer than a stopping service may take.
        let timer = Task {
            try await Task.sleep(until: deadline, clock: .continuous)
            work.cancel()
        }
        let result = await work.value
        timer.cancel()
        await own?.shutdown()
        return result
    }

    /// Posts one batch and, once the collector acknowledged it, removes it from the spool.
    private func deliver(_ batch: SpoolBatch, client: CollectorClient, agentID: String) async throws {
        let ack = try await client.postEvents(compressed: try Deflate.compress(Self.assemble(batch, agentID: agentID)))
        guard ack.acked >= batch.firstSeq else {
            throw CollectorError.unreachable("collector acknowledged seq \(ack.acked), below the batch's first seq \(batch.firstSeq)")
        }
        try spool.acknowledge(batch, acked: ack.acked)
        metrics?.upload("acked")
    }

    /// How often the client certificate is looked at for renewal.
    static let renewalCheckInterval = Duration.seconds(5)

    /// True once less than `renewFraction` of the client certificate's lifetime remains, or
    /// when the collector issues from another CA than the one that signed it (a CA rotation).
    func certificateNeedsRenewal(enrollment: AgentState.Enrollment, now: Date = Date()) -> Bool {
        // The organisation renews the certificates its CA issued.
        if enrollment.externalCertificate == true { return false }
        guard let certificate = try? state.loadCertificate() else { return false }
        if let pem = PolicySync.stored(in: state)?.issuingCA, let issuing = try? Certificate(pemEncoded: pem),
           !issuing.publicKey.isValidSignature(certificate.signature, for: certificate) {
            return true
        }
        let lifetime = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
        return certificate.notValidAfter.timeIntervalSince(now) < lifetime * configuration.renewFraction
    }

    /// Renews the client certificate for the same key; the link's next client uses it. Failure
    /// is logged and retried later; the current certificate stays in use meanwhile.
    func renew(client: CollectorClient, key: P256.Signing.PrivateKey) async {
        do {
            let grant = try await client.renew(RenewRequest(csr: try Enroller.csrPEM(for: key)))
            try state.save(grant: grant, enrollment: nil)
            logger.info("client certificate renewed", metadata: ["not_after": "\(WireCoding.string(from: grant.notAfter))"])
        } catch {
            logger.warning("certificate renewal failed; will retry", metadata: ["error": "\(error)"])
        }
    }

    /// `{"agent":…,"batch":…,"events":[…]}` from the spooled JSON without re-encoding events.
    static func assemble(_ batch: SpoolBatch, agentID: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(batch.bodies.reduce(64) { $0 + $1.count + 1 })
        buffer.writeString("{\"agent\":\"\(agentID)\",\"batch\":\"\(batch.firstSeq)-\(batch.lastSeq)\",\"events\":[")
        for (index, body) in batch.bodies.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeBytes(body)
        }
        buffer.writeString("]}")
        return buffer
    }
}
