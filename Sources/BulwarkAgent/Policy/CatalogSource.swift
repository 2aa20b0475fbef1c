import BulwarkCore
import Synchronization

/// The agent's current AI app catalog: the bundled one with the override the collector sends
/// in the policy bundle. Sensors read it on every cycle, so a catalog update applies without a
/// restart (model-file locations excepted: those are watched from start).
public final class CatalogSource: Sendable {
    private let value: Mutex<AIAppCatalog>

    public init(_ catalog: AIAppCatalog = .bundled) {
        value = Mutex(catalog)
    }

    /// The catalog an agent with this policy bundle uses.
    public convenience init(bundle: PolicyBundle?) {
        self.init(AIAppCatalog.bundled.applying(bundle?.catalog ?? CatalogOverride()))
    }

    public var current: AIAppCatalog { value.withLock { $0 } }

    /// Applies the bundle's override; true when the catalog changed.
    @discardableResult
    public func update(from bundle: PolicyBundle) -> Bool {
        let next = AIAppCatalog.bundled.applying(bundle.catalog ?? CatalogOverride())
        return value.withLock { current in
            guard current.version != next.version else { return false }
            current = next
            return true
        }
    }
}
