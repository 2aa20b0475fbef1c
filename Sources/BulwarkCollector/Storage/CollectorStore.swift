import BulwarkCore
import Foundation

/// Everything the collector persists. SQLite is the default backend; PostgreSQL (for several
/// collectors) implements the same protocol.
///
/// Every method is atomic: it either fully applies or throws and changes nothing.
public protocol CollectorStore: Sendable {
    // Enrollment tokens
    func createEnrollmentToken(hash: String, label: String, maxUses: Int, expiresAt: Date, now: Date) async throws -> EnrollmentToken
    func enrollmentTokens() async throws -> [EnrollmentToken]
    /// Revokes by id; false when no such token exists.
    func revokeEnrollmentToken(id: String, now: Date) async throws -> Bool

    /// Checks and consumes a token and records the agent, in one transaction. Re-enrolling an
    /// agent that is already enrolled (same key) is idempotent and does not consume a use.
    func enroll(tokenHash: String, agent: AgentRecord, now: Date) async throws -> AgentRecord

    // Agents
    /// Records an agent that authenticated with a certificate of the organisation's CA (no
    /// token); refuses a revoked one.
    func register(agent: AgentRecord, now: Date) async throws -> AgentRecord
    func agent(id: String) async throws -> AgentRecord?
    func agents() async throws -> [AgentRecord]
    /// Revokes an agent; false when no such agent exists.
    func revokeAgent(id: String, now: Date) async throws -> Bool
    /// How many agents are revoked. Revocation is final (no un-revoke, no deletion), so the
    /// count only grows and a change means a new revocation: one cheap indexed read tells a
    /// collector whether the agent records it holds are still good.
    func revokedAgentCount() async throws -> Int
    func recordRenewal(agentID: String, serial: String, notAfter: Date, now: Date) async throws

    // Events
    /// Stores validated batches in one transaction, skipping `(agent, seq)` pairs already stored,
    /// and applies heartbeats to the agents' rows; one acknowledgement per batch, in order.
    func ingest(_ batches: [IngestBatch], now: Date) async throws -> [EventAck]
    /// How many `ingest` transactions a collector runs at once: 1 where there is one writer
    /// (SQLite); more where the database inserts in parallel and ids stay safe to page by.
    var concurrentIngests: Int { get }
    func events(_ query: EventQuery) async throws -> [StoredEvent]
    /// The same events with `data` as stored text (one page; exports page by `afterID`).
    func rawEvents(_ query: EventQuery) async throws -> [RawEvent]
    /// The smallest and largest id among events with a time in [since, until); nil when none.
    func eventIDRange(since: Date?, until: Date?) async throws -> ClosedRange<Int64>?
    /// The newest event's id (0 when there are none), as a watermark: every event with an id at
    /// or below it is committed and visible, so a reader paging by id up to it skips nothing.
    func latestEventID() async throws -> Int64
    func eventCount(agentID: String?) async throws -> Int

    // API tokens
    func createAPIToken(hash: String, name: String, role: Role, now: Date) async throws -> APIToken
    func apiToken(hash: String) async throws -> APIToken?
    func apiTokens() async throws -> [APIToken]
    /// Revokes by id; false when no such token exists.
    func revokeAPIToken(id: String, now: Date) async throws -> Bool

    // Audit
    /// The discovered-AI inventory (kept current by `ingest`).
    func inventoryApps(_ query: InventoryQuery) async throws -> [InventoryApp]
    /// One app with a page of its devices and users, nil when no agent has seen it.
    func inventoryApp(id: String, page: InventoryPage) async throws -> InventoryAppDetail?
    /// The apps seen on one device, nil for an unknown agent.
    func inventoryDevice(agentID: String) async throws -> InventoryDevice?
    /// The apps one user was seen with on any device, nil when none.
    func inventoryUser(name: String) async throws -> InventoryUser?
    /// The catalog the inventory names and scores apps by (bundled + deployment override).
    var catalog: AIAppCatalog { get }
    /// Rescores the apps already in the inventory with `catalog` (risk is kept on the row so
    /// filtering by it is a query): `serve` calls it at start for a new catalog or override.
    func refreshRiskScores() async throws
    /// Sets an app's sanction state (the app need not have been seen yet); false if unchanged.
    func setAppState(id: String, change: AppStateChange) async throws -> Bool
    /// What the deployment adds to the bundled catalog; agents get it with their bundle.
    var catalogOverride: CatalogOverride { get }
    /// Every app state an admin set, the exceptions in force at `now`, the newest DLP policy and
    /// users' risk levels: what all agents' policy bundles are cut from.
    func policySnapshot(now: Date) async throws -> PolicySnapshot
    /// A counter every change to a snapshot's stored parts (states, exceptions, policies)
    /// increments in its own transaction, whichever collector made it: cheap to poll.
    func policyRevision() async throws -> Int64

    // Policy versions
    /// Stores a new version (the next number) and returns it.
    func addPolicy(yaml: String, name: String, comment: String, restores: Int?, by: String, at: Date) async throws -> PolicyVersionRecord
    /// Every version, newest first, without text, with how many agents run each.
    func policyVersions() async throws -> [PolicyVersionRecord]
    /// One version with its text (nil for the current one asks for the newest); nil when none.
    func policyVersion(_ version: Int?) async throws -> PolicyVersionRecord?

    // SIEM forwarding
    /// The last event id delivered to `destination` (0 before the first).
    func siemCursor(_ destination: String) async throws -> Int64
    func setSIEMCursor(_ destination: String, eventID: Int64, at: Date) async throws

    // Reports
    /// AI use and exposure in [from, to).
    func aiUsageReport(from: Date, to: Date, now: Date) async throws -> AIUsageReport

    // Retention
    /// Deletes what `policy` no longer keeps at `now`, at most `batch` rows per transaction (ingest
    /// is never held up for long).
    func deleteExpired(_ policy: RetentionPolicy, now: Date, batch: Int) async throws -> RetentionResult

    // Adaptive protection
    /// Users whose incidents over `UserRiskRule.window` before `now` put them above `low`.
    func userRisk(now: Date) async throws -> [UserRiskRecord]

    // Exceptions
    func grantException(_ record: ExceptionRecord) async throws
    /// In force at `now` (or all, newest first, with `includeEnded`).
    func exceptions(now: Date, includeEnded: Bool) async throws -> [ExceptionRecord]
    /// False when no such exception exists or it was already revoked.
    func revokeException(id: String, by: String, at: Date) async throws -> Bool

    // Incidents (kept current by `ingest`)
    func incident(id: String) async throws -> IncidentRecord?
    /// Newest first, without notes.
    func incidents(_ query: IncidentQuery) async throws -> [IncidentRecord]
    /// Incidents per UTC day (days since the epoch → count) from `since` on.
    func incidentsPerDay(since: Date) async throws -> [Int64: Int]
    /// Applies a status change and/or adds a note; nil when no such incident exists.
    func updateIncident(id: String, change: IncidentChange) async throws -> IncidentRecord?

    // Web console sessions (in the store, so any collector behind a load balancer knows them)
    /// Records a new session by the SHA-256 of its id; drops expired ones.
    func openConsoleSession(idHash: String, tokenID: String, csrf: String, expires: Date, now: Date) async throws
    /// The session and its API token, nil when unknown, expired, or its token revoked.
    func consoleSession(idHash: String, now: Date) async throws -> (token: APIToken, csrf: String, expires: Date)?
    func closeConsoleSession(idHash: String) async throws

    /// Appends to the audit trail (nothing updates or deletes it).
    func audit(_ entry: AuditEntry) async throws
    /// Newest first.
    func auditEntries(_ query: AuditQuery) async throws -> [AuditEntry]

    func close() async throws
}

extension CollectorStore {
    /// One agent's policy bundle as of `now`.
    public func policyBundle(agentID: String, now: Date) async throws -> PolicyBundle {
        try await policySnapshot(now: now).bundle(for: agentID, catalog: catalog, catalogOverride: catalogOverride)
    }

    /// Stores one batch in its own transaction.
    public func ingest(agentID: String, events: [Event], now: Date) async throws -> EventAck {
        let acks = try await ingest([IngestBatch(agentID: agentID, events: events)], now: now)
        return acks[0]
    }
}
