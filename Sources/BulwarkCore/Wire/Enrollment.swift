import Foundation

/// `POST /v1/enroll` request: a one-time token and a CSR for a key the agent generated itself.
public struct EnrollRequest: Sendable, Codable {
    public var token: String
    /// PEM-encoded PKCS#10 certificate signing request.
    public var csr: String
    public var hostname: String
    public var os: String
    public var agentVersion: String

    public init(token: String, csr: String, hostname: String, os: String, agentVersion: String) {
        self.token = token
        self.csr = csr
        self.hostname = hostname
        self.os = os
        self.agentVersion = agentVersion
    }

    enum CodingKeys: String, CodingKey {
        case token, csr, hostname, os
        case agentVersion = "agent_version"
    }
}

/// `POST /v1/register` request: an agent whose certificate the organisation's CA issued (a CA
/// in the collector's `tls_client_ca`) makes itself known; the TLS client certificate is the
/// credential, so there is no token and no CSR.
public struct RegisterRequest: Sendable, Codable {
    public var hostname: String
    public var os: String
    public var agentVersion: String

    public init(hostname: String, os: String, agentVersion: String) {
        self.hostname = hostname
        self.os = os
        self.agentVersion = agentVersion
    }

    enum CodingKeys: String, CodingKey {
        case hostname, os
        case agentVersion = "agent_version"
    }
}

/// `POST /v1/renew` request: a fresh CSR for the agent's existing key.
public struct RenewRequest: Sendable, Codable {
    public var csr: String
    public init(csr: String) { self.csr = csr }
}

/// Answer to enrollment and renewal: the client certificate and the CA that issued it.
public struct CertificateGrant: Sendable, Codable {
    public var agentID: String
    /// PEM client certificate.
    public var certificate: String
    /// PEM CA certificate chain (one certificate today).
    public var caChain: String
    public var notAfter: Date
    /// The deployment's key for keyed hashes of sensitive values (base64, 32 bytes), so agents
    /// put HMACs, never values, in telemetry and match EDM tables. Sent only over mutual TLS
    /// or the pinned enrollment channel; stored 0600.
    public var hashKey: String?

    public init(agentID: String, certificate: String, caChain: String, notAfter: Date, hashKey: String? = nil) {
        self.agentID = agentID
        self.certificate = certificate
        self.caChain = caChain
        self.notAfter = notAfter
        self.hashKey = hashKey
    }

    enum CodingKeys: String, CodingKey {
        case certificate
        case agentID = "agent_id"
        case caChain = "ca_chain"
        case notAfter = "not_after"
        case hashKey = "hash_key"
    }
}

/// `GET /v1/policy`: what the collector wants agents to enforce beyond their installed policy —
/// for now the sanction state admins gave each app (an unsanctioned app is what rules naming
/// `sanction: [unsanctioned]` act on). `version` changes whenever a state does.
public struct PolicyBundle: Sendable, Codable, Equatable {
    /// Time (ms) of the latest app state change.
    public var version: Int64
    public var appStates: [String: SanctionState]
    /// The collector's catalog version (`2026.11.27`, `+digest` with a deployment override).
    public var catalogVersion: String?
    /// The deployment's catalog override, which agents apply to their bundled catalog.
    public var catalog: CatalogOverride?
    /// Exceptions helpdesk granted that are in force for this agent (expired ones are left out;
    /// agents also stop applying each at its `until`).
    public var exceptions: [GrantedException]?
    /// The DLP policy an admin pushed to the collector (its current version), if any: agents
    /// install it when it parses and loads, else keep the one they have.
    public var policy: DistributedPolicy?
    /// Users whose risk level is above low (docs/POLICY.md "Adaptive protection").
    public var userRisk: [String: UserRisk]?
    /// The CA that issues agent certificates now (PEM). During a CA rotation it is the new CA:
    /// an agent whose certificate another CA signed renews at once (docs/DEPLOY.md "CA rotation").
    public var issuingCA: String?

    public init(
        version: Int64, appStates: [String: SanctionState], catalogVersion: String? = nil, catalog: CatalogOverride? = nil, exceptions: [GrantedException]? = nil,
        policy: DistributedPolicy? = nil, userRisk: [String: UserRisk]? = nil
    ) {
        self.userRisk = userRisk
        self.version = version
        self.appStates = appStates
        self.catalogVersion = catalogVersion
        self.catalog = catalog
        self.exceptions = exceptions
        self.policy = policy
    }

    enum CodingKeys: String, CodingKey {
        case version, catalog, exceptions, policy
        case appStates = "app_states", catalogVersion = "catalog_version", userRisk = "user_risk", issuingCA = "issuing_ca"
    }
}

/// A version of the deployment's DLP policy as agents receive it.
public struct DistributedPolicy: Sendable, Codable, Equatable {
    /// 1, 2, 3… in the order admins pushed them (a rollback is a new version).
    public var version: Int
    /// SHA-256 of `yaml`, hex.
    public var sha256: String
    public var yaml: String

    public init(version: Int, sha256: String, yaml: String) {
        self.version = version
        self.sha256 = sha256
        self.yaml = yaml
    }
}
