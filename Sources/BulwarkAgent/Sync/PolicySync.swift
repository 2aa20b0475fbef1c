import BulwarkCore
import Crypto
import Foundation
import Logging

/// Pulls the collector's policy bundle (app sanction states, catalog override) every `interval` over mTLS and
/// hands each new version to `onChange`; the last one is kept in the state directory
/// (`app-states.json`), so a restarted agent enforces it before the collector answers.
public struct PolicySync: Sendable {
    let state: AgentState
    let configuration: AgentConfiguration
    let logger: Logger
    let onChange: @Sendable (PolicyBundle) -> Void

    public init(state: AgentState, configuration: AgentConfiguration, logger: Logger, onChange: @escaping @Sendable (PolicyBundle) -> Void) {
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

    public func run() async throws {
        var last = Self.stored(in: state)
        var failing = false
        while !Task.isCancelled {
            do {
                let enrollment = try state.loadEnrollment()
                // A client per pull: it picks up a certificate the uploader renewed meanwhile.
                let client = try CollectorClient(
                    baseURL: enrollment.collector, trustedCA: try state.loadCA(), clientCertificate: try state.loadCertificate(),
                    clientKey: try state.loadKey(), connectTimeout: configuration.connectTimeout)
                let bundle: PolicyBundle
                do {
                    bundle = try await client.policyBundle()
                    await client.shutdown()
                } catch {
                    await client.shutdown()
                    throw error
                }
                if failing { logger.info("policy bundle reachable again") }
                failing = false
                if bundle != last {
                    try SecureFile.write(try WireCoding.encoder().encode(bundle), to: storedPath, mode: .publicReadable)
                    last = bundle
                    logger.info(
                        "policy bundle from the collector",
                        metadata: ["version": "\(bundle.version)", "apps": "\(bundle.appStates.count)", "catalog": "\(bundle.catalogVersion ?? "-")"])
                    onChange(bundle)
                }
            } catch {
                if !failing { logger.warning("cannot pull the policy bundle; keeping the last one", metadata: ["error": "\(error)"]) }
                failing = true
            }
            try await Task.sleep(for: .milliseconds(Int(configuration.policySyncInterval * 1000)))
        }
    }
}
