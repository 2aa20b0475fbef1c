import Foundation

/// Token-bucket rate limiting per key (client address) and overall, so a flood of enrollment
/// attempts cannot turn the CA into a signing oracle or exhaust CPU.
public actor RateLimiter {
    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    private let ratePerSecond: Double
    private let burst: Double
    private let globalRatePerSecond: Double
    private let globalBurst: Double
    private var buckets: [String: Bucket] = [:]
    private var global: Bucket

    public init(ratePerSecond: Double, burst: Double, globalRatePerSecond: Double, globalBurst: Double) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.globalRatePerSecond = globalRatePerSecond
        self.globalBurst = globalBurst
        self.global = Bucket(tokens: globalBurst, updated: Date())
    }

    /// Takes one token for `key`; false when either its bucket or the global one is empty.
    public func allow(_ key: String, now: Date = Date()) -> Bool {
        var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
        refill(&bucket, rate: ratePerSecond, burst: burst, now: now)
        refill(&global, rate: globalRatePerSecond, burst: globalBurst, now: now)
        guard bucket.tokens >= 1, global.tokens >= 1 else {
            buckets[key] = bucket
            return false
        }
        bucket.tokens -= 1
        global.tokens -= 1
        buckets[key] = bucket
        if buckets.count > 10_000 { buckets = buckets.filter { $0.value.tokens < burst } }
        return true
    }

    private func refill(_ bucket: inout Bucket, rate: Double, burst: Double, now: Date) {
        let elapsed = max(0, now.timeIntervalSince(bucket.updated))
        bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
        bucket.updated = now
    }
}
