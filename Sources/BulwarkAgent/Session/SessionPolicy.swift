import BulwarkCore
import Foundation

/// What a session helper enforces — the policy, the catalog of AI apps, their sanction states
/// and the user's risk level — as one copy its clipboard guard and browser guard both read, so
/// an update from the agent reaches both at once.
public final class SessionPolicy: @unchecked Sendable {
    // `snapshot` is behind `lock`: updates come from the agent's connection, reads from the
    // display backend's thread and the browser bridge.

    /// Everything a decision needs, taken together so one decision never mixes two updates.
    public struct Snapshot: Sendable {
        public let policy: Policy
        public let evaluator: PolicyEvaluator
        public let scanner: ContentScanner
        public let catalog: AIAppCatalog
        /// Sanction states admins gave apps on the collector; unknown apps are `unreviewed`.
        public let appStates: [String: SanctionState]
        public let userRisk: UserRisk
        /// Counts policy replacements, so state kept under one policy (a granted override, a
        /// classified copy) can end with it.
        public let revision: Int

        /// The sanction state of `app`; no app, or one admins have not reviewed, is `unreviewed`.
        public func sanction(of app: AIApp?) -> SanctionState {
            app.flatMap { appStates[$0.id] } ?? .unreviewed
        }

        func with(
            policy: Policy? = nil, classifier: ContentClassifier? = nil, catalog: AIAppCatalog? = nil, appStates: [String: SanctionState]? = nil,
            userRisk: UserRisk? = nil
        ) -> Snapshot {
            let replaced = policy != nil
            return Snapshot(
                policy: policy ?? self.policy, evaluator: policy.map(PolicyEvaluator.init(policy:)) ?? evaluator,
                scanner: classifier.map { ContentScanner(classifier: $0) } ?? scanner, catalog: catalog ?? self.catalog,
                appStates: appStates ?? self.appStates, userRisk: userRisk ?? self.userRisk, revision: revision + (replaced ? 1 : 0))
        }
    }

    private let lock = NSLock()
    private var snapshot: Snapshot

    public init(
        policy: Policy, classifier: ContentClassifier, catalog: AIAppCatalog = AIAppCatalog(), appStates: [String: SanctionState] = [:],
        userRisk: UserRisk = .low
    ) {
        snapshot = Snapshot(
            policy: policy, evaluator: PolicyEvaluator(policy: policy), scanner: ContentScanner(classifier: classifier), catalog: catalog,
            appStates: appStates, userRisk: userRisk, revision: 0)
    }

    /// What is in force now.
    public var current: Snapshot { lock.withLock { snapshot } }

    /// A new policy (from the agent) applies to the next decision.
    public func update(policy: Policy, classifier: ContentClassifier) {
        lock.withLock { snapshot = snapshot.with(policy: policy, classifier: classifier) }
    }

    /// A new catalog (from the agent) maps the next paste's program or site.
    public func update(catalog: AIAppCatalog) {
        lock.withLock { snapshot = snapshot.with(catalog: catalog) }
    }

    /// New app sanction states (from the collector, through the agent) apply to the next decision.
    public func update(appStates: [String: SanctionState]) {
        lock.withLock { snapshot = snapshot.with(appStates: appStates) }
    }

    /// This user's risk level (from the collector, through the agent) applies to the next decision.
    public func update(userRisk: UserRisk) {
        lock.withLock { snapshot = snapshot.with(userRisk: userRisk) }
    }
}
