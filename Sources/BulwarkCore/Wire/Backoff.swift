// Shared by agents (uploads) and the collector (SIEM forwarding).
/// Exponential backoff with jitter: attempt n waits a random time in [½, 1] × min(cap, base·2ⁿ),
/// so a fleet of agents that lost the collector together does not return in lock-step.
public struct Backoff: Sendable {
    public var base: Double
    public var cap: Double

    public init(base: Double, cap: Double) {
        self.base = base
        self.cap = cap
    }

    /// Delay in seconds before retry number `attempt` (1-based).
    public func delay(attempt: Int) -> Double {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(cap, base * Double(1 << exponent))
        return ceiling * Double.random(in: 0.5...1.0)
    }
}
