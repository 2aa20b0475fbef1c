import BulwarkCore
import Crypto
import Foundation
import Logging
import X509

/// Keeps the collector's policy bundle (app sanction states, exceptions, DLP policy, catalog override) current over mTLS, waiting at the collector for each change (`GET /v1/policy?wait=`), and
/// hands each new version to `onChange`; the last one is kept in the state directory
/// (`app-states.json`), so a restarted agent enforces it before the collector answers.
public struct PolicySync: Sendable {
    let state: AgentState
    let configuration: AgentConfiguration
    let logger: Logger
    let onChange: @Sendable (PolicyBundle) -> Void
    /// The connection shared with the uploader: the waiting request holds it open.
    let link: CollectorLink

    public init(
        state: AgentState, configuration: AgentConfiguration, logger: Logger, link: CollectorLink, onChange: @escaping @Sendable (PolicyBundle) -> Void
    ) {
        self.link = link
        self.state = state
        self.configuration = configuration
        self.logger = logger
        self.onChange = onChange
    }

    var storedPath: String { Self.storedPath(state) }

    static func storedPath(_ state: AgentState) -> String { state.path("app-states.json") }

    /// The bundle an agent with this state directory kept from last time, if any.
    public static func stored(in state: AgentState) -> PolicyBundle? {
        (try? Data(contentsOf: URL(fileURLWithPath: storedPath(state)))).flatMap { try? WireCoding.decoder().decode(PolicyBundle.self, from: $0) }
    }

    /// How long each request waits at the collector for a change, seconds: below the idle
    /// timeouts load balancers commonly have (60 s).
    public static let longPollSeconds = 50

    public func run() async throws {
        var last = Self.stored(in: state)
        var etag: String?
        var failing = false
        while !Task.isCancelled {
            var askAgainAtOnce = false
            do {
                let poll = try await link.client().policyBundle(wait: Self.longPollSeconds, etag: etag)
                etag = poll.etag
                askAgainAtOnce = poll.collectorWaits
                if failing { logger.info("policy bundle reachable again") }
                failing = false
                if let bundle = poll.bundle, bundle != last {
                    try SecureFile.write(try WireCoding.encoder().encode(bundle), to: storedPath, mode: .publicReadable)
                    last = bundle
                    logger.info(
                        "policy bundle from the collector",
                        metadata: ["version": "\(bundle.version)", "apps": "\(bundle.appStates.count)", "catalog": "\(bundle.catalogVersion ?? "-")"])
                    onChange(bundle)
                }
            } catch {
                // Stopping: the waiting request was cut off on purpose (the agent shuts the
                // link down without waiting for it).
                if Task.isCancelled || error is CancellationError { return }
                if !failing { logger.warning("cannot pull the policy bundle; keeping the last one", metadata: ["error": "\(error)"]) }
                failing = true
                etag = nil
            }
            if !askAgainAtOnce { try await Task.sleep(for: .milliseconds(Int(configuration.policySyncInterval * 1000))) }
        }
    }
}
