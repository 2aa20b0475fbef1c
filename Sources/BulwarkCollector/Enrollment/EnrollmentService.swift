import BulwarkCore
import Crypto
import Foundation
import HTTPTypes
import Logging
import SwiftASN1
import X509

/// Signs agent certificates: checks the token, rate-limits, issues, records, audits.
public struct EnrollmentService: Sendable {
    let store: any CollectorStore
    let authority: CertificateAuthority
    let limits: CollectorLimits
    let rateLimiter: RateLimiter
    let logger: Logger
    /// The deployment's keyed-hash key, handed to agents with their certificate.
    let hashKey: String

    public init(store: any CollectorStore, authority: CertificateAuthority, hashKey: SymmetricKey, limits: CollectorLimits, logger: Logger) {
        self.hashKey = hashKey.withUnsafeBytes { Data($0).base64EncodedString() }
        self.store = store
        self.authority = authority
        self.limits = limits
        self.rateLimiter = RateLimiter(
            ratePerSecond: limits.enrollPerSecond, burst: limits.enrollBurst,
            globalRatePerSecond: limits.enrollGlobalPerSecond, globalBurst: limits.enrollGlobalBurst)
        self.logger = logger
    }

    private var caPEM: String {
        get throws { try authority.certificate.serializeAsPEM().pemString }
    }

    /// Enrolls the key in `request.csr` using `request.token`.
    public func enroll(_ request: EnrollRequest, clientAddress: String, now: Date = Date()) async throws(APIFailure) -> CertificateGrant {
        guard await rateLimiter.allow(clientAddress, now: now) else {
            throw APIFailure(.tooManyRequests, "enroll_rate_limited", "too many enrollment attempts from \(clientAddress); wait and retry", retryAfterSeconds: 10)
        }
        let csr = try Self.parse(request.csr)
        return try await mapFailures(action: "enrollment") {
            let (certificate, agentID) = try authority.issueAgentCertificate(
                csr: csr, validity: limits.agentCertificateDays * 86_400, now: now)
            let record = AgentRecord(
                id: agentID, hostname: String(request.hostname.prefix(255)), os: String(request.os.prefix(255)),
                agentVersion: String(request.agentVersion.prefix(64)), enrolledAt: now,
                certificateSerial: String(describing: certificate.serialNumber), certificateNotAfter: certificate.notValidAfter)
            do {
                _ = try await store.enroll(tokenHash: SecretToken.hash(request.token), agent: record, now: now)
            } catch let refusal as EnrollmentRefusal {
                try? await store.audit(AuditEntry(time: now, actor: "anonymous", source: clientAddress, action: "agent.enroll", target: agentID, outcome: "refused: \(refusal.errorBody.code)"))
                throw APIFailure(refusal.status, refusal.errorBody)
            }
            try? await store.audit(AuditEntry(time: now, actor: "anonymous", source: clientAddress, action: "agent.enroll", target: agentID, outcome: "ok"))
            logger.info("agent enrolled", metadata: ["agent": "\(agentID)", "hostname": "\(record.hostname)"])
            return try grant(certificate, agentID: agentID)
        }
    }

    /// Issues a fresh certificate for an authenticated agent's existing key.
    public func renew(_ request: RenewRequest, agentID: String, clientAddress: String, now: Date = Date()) async throws(APIFailure) -> CertificateGrant {
        let csr = try Self.parse(request.csr)
        return try await mapFailures(action: "renewal") {
            guard try AgentIdentity.agentID(for: csr.publicKey) == agentID else {
                throw APIFailure(.conflict, "agent_mismatch", "renewal CSR is for a different key than the client certificate; renewal keeps the agent's key, enroll again to change it")
            }
            let (certificate, _) = try authority.issueAgentCertificate(
                csr: csr, validity: limits.agentCertificateDays * 86_400, now: now)
            try await store.recordRenewal(
                agentID: agentID, serial: String(describing: certificate.serialNumber), notAfter: certificate.notValidAfter, now: now)
            try? await store.audit(AuditEntry(time: now, actor: "agent:\(agentID)", source: clientAddress, action: "agent.renew", target: agentID, outcome: "ok"))
            return try grant(certificate, agentID: agentID)
        }
    }

    /// Records an agent that presented a certificate of the organisation's CA (verified in the
    /// TLS handshake against `tls_client_ca`, bound to its key by the agent ID): no token, no new
    /// certificate; it gets the deployment's hash key like an enrolled agent.
    public func register(_ request: RegisterRequest, certificate: Certificate, agentID: String, clientAddress: String, now: Date = Date()) async throws(APIFailure) -> CertificateGrant {
        guard await rateLimiter.allow(clientAddress, now: now) else {
            throw APIFailure(.tooManyRequests, "enroll_rate_limited", "too many enrollment attempts from \(clientAddress); wait and retry", retryAfterSeconds: 10)
        }
        return try await mapFailures(action: "registration") {
            let record = AgentRecord(
                id: agentID, hostname: String(request.hostname.prefix(255)), os: String(request.os.prefix(255)),
                agentVersion: String(request.agentVersion.prefix(64)), enrolledAt: now,
                certificateSerial: String(describing: certificate.serialNumber), certificateNotAfter: certificate.notValidAfter)
            do {
                _ = try await store.register(agent: record, now: now)
            } catch let refusal as EnrollmentRefusal {
                try? await store.audit(AuditEntry(time: now, actor: "agent:\(agentID)", source: clientAddress, action: "agent.register", target: agentID, outcome: "refused: \(refusal.errorBody.code)"))
                throw APIFailure(refusal.status, refusal.errorBody)
            }
            try? await store.audit(AuditEntry(time: now, actor: "agent:\(agentID)", source: clientAddress, action: "agent.register", target: agentID, outcome: "ok"))
            logger.info("agent registered with the organisation's certificate", metadata: ["agent": "\(agentID)", "hostname": "\(record.hostname)"])
            return try grant(certificate, agentID: agentID)
        }
    }

    private func grant(_ certificate: Certificate, agentID: String) throws -> CertificateGrant {
        CertificateGrant(
            agentID: agentID, certificate: try certificate.serializeAsPEM().pemString, caChain: try caPEM,
            notAfter: certificate.notValidAfter, hashKey: hashKey)
    }

    /// Documented failures pass through; a bad CSR is 400; anything else means the store could not
    /// record the result, which the agent should retry (503).
    private func mapFailures<T>(action: String, _ body: () async throws -> T) async throws(APIFailure) -> T {
        do {
            return try await body()
        } catch let failure as APIFailure {
            throw failure
        } catch let body as ErrorBody {
            throw APIFailure(.badRequest, body)
        } catch {
            logger.error("\(action) failed", metadata: ["error": "\(error)"])
            throw APIFailure(.serviceUnavailable, "store_unavailable", "the collector cannot record the \(action) right now; retry later", retryAfterSeconds: 5)
        }
    }

    static func parse(_ pem: String) throws(APIFailure) -> CertificateSigningRequest {
        do {
            return try CertificateSigningRequest(pemEncoded: pem)
        } catch {
            throw APIFailure(.badRequest, "invalid_csr", "csr is not a PEM-encoded PKCS#10 certificate signing request")
        }
    }
}

extension EnrollmentRefusal {
    /// 401 for a token that does not authenticate, 403 for a revoked agent.
    var status: HTTPResponse.Status {
        if case .agentRevoked = self { return .forbidden }
        return .unauthorized
    }
}
