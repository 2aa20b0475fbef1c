import BulwarkCore
import Foundation
import Logging

/// The agent's own resource limits, like osquery's watchdog: when its resident memory or its
/// CPU use stays above the limit, the discovery sensors (which enforce nothing) are paused and
/// an `agent.health` event says so; enforcement (file guard, clipboard decisions), the spool and
/// uploads go on. They resume once usage has been back under the limits for a whole window.
/// systemd's `MemoryMax=` and `Restart=always` stay the backstop for a runaway agent.
public struct ResourceWatchdog: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Resident memory, bytes (0: unlimited).
        public var rssBytes: Int
        /// Average CPU over `window`, percent of one core (0: unlimited).
        public var cpuPercent: Double
        /// How long usage must stay over (or back under) a limit.
        public var window: Duration
        /// Time between samples.
        public var interval: Duration

        public init(rssBytes: Int, cpuPercent: Double, window: Duration, interval: Duration) {
            self.rssBytes = rssBytes
            self.cpuPercent = cpuPercent
            self.window = window
            self.interval = interval
        }
    }

    /// One reading of the process's usage.
    public struct Sample: Sendable {
        public var rssBytes: Int
        /// User + system CPU time so far, seconds.
        public var cpuSeconds: Double
        public var at: ContinuousClock.Instant

        public init(rssBytes: Int, cpuSeconds: Double, at: ContinuousClock.Instant) {
            self.rssBytes = rssBytes
            self.cpuSeconds = cpuSeconds
            self.at = at
        }

        /// This process now, from /proc/self/statm and /proc/self/stat.
        public static func current() -> Sample? {
            guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
                  let resident = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) }),
                  let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { return nil }
            // Fields after the command name: state is field 3, utime 14, stime 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            return Sample(rssBytes: resident * Int(sysconf(Int32(_SC_PAGESIZE))), cpuSeconds: (user + system) / max(ticks, 1), at: .now)
        }
    }

    let limits: Limits
    let sensors: PausableSensors
    let record: @Sendable (String, String) -> Void
    let logger: Logger
    let sample: @Sendable () -> Sample?

    /// - Parameters:
    ///   - record: writes an `agent.health` event (status, message).
    ///   - sample: reads the usage (this process's, from /proc, unless a test says otherwise).
    public init(
        limits: Limits, sensors: PausableSensors, logger: Logger, sample: @escaping @Sendable () -> Sample? = { Sample.current() },
        record: @escaping @Sendable (String, String) -> Void
    ) {
        self.sample = sample
        self.limits = limits
        self.sensors = sensors
        self.logger = logger
        self.record = record
    }

    /// Samples until cancelled.
    public func run() async throws {
        var samples: [Sample] = []
        var overSince: ContinuousClock.Instant?
        var underSince: ContinuousClock.Instant?
        while !Task.isCancelled {
            try await Task.sleep(for: limits.interval)
            guard let sample = sample() else { continue }
            samples.append(sample)
            samples.removeAll { sample.at - $0.at > limits.window }
            let over = overLimit(samples)
            let now = sample.at
            if let reason = over {
                underSince = nil
                let since = overSince ?? now
                overSince = since
                if now - since >= limits.window || limits.window <= limits.interval, await sensors.pause() {
                    let message = "\(reason); paused the discovery sensors (\(sensors.names.joined(separator: ", "))) until usage is back under the limits for \(limits.window); enforcement and delivery go on"
                    logger.warning("\(message)")
                    record("degraded", message)
                }
            } else {
                overSince = nil
                let since = underSince ?? now
                underSince = since
                if now - since >= limits.window, await sensors.resume() {
                    let message = "usage back under the limits for \(limits.window); the discovery sensors run again"
                    logger.notice("\(message)")
                    record("recovered", message)
                }
            }
        }
    }

    /// Why the samples are over a limit, or nil.
    func overLimit(_ samples: [Sample]) -> String? {
        guard let last = samples.last else { return nil }
        if limits.rssBytes > 0, last.rssBytes > limits.rssBytes {
            return "resident memory \(last.rssBytes / 1_048_576) MB is over the \(limits.rssBytes / 1_048_576) MB limit"
        }
        if limits.cpuPercent > 0, let first = samples.first, last.at > first.at {
            let elapsed = Double((last.at - first.at).components.seconds) + Double((last.at - first.at).components.attoseconds) / 1e18
            let percent = (last.cpuSeconds - first.cpuSeconds) / elapsed * 100
            // Judge CPU over most of a window only: one busy second is not "sustained".
            if elapsed * 1.25 >= Double(limits.window.components.seconds), percent > limits.cpuPercent {
                return "CPU \(String(format: "%.1f", percent))% over \(Int(elapsed)) s is over the \(String(format: "%g", limits.cpuPercent))% limit"
            }
        }
        return nil
    }
}

/// Sensors the watchdog may pause and resume: they run in a task of their own.
public actor PausableSensors {
    public nonisolated let names: [String]
    private let body: @Sendable () async throws -> Void
    private var task: Task<Void, Never>?
    private let logger: Logger

    /// - Parameter body: runs every sensor until cancelled.
    public init(names: [String], logger: Logger, body: @escaping @Sendable () async throws -> Void) {
        self.names = names
        self.body = body
        self.logger = logger
    }

    /// Starts them (again); false when they already run.
    @discardableResult
    public func resume() -> Bool {
        guard task == nil, !names.isEmpty else { return false }
        let body = body
        let logger = logger
        task = Task {
            do { try await body() } catch is CancellationError {} catch {
                logger.error("discovery sensors stopped: \(error)")
            }
        }
        return true
    }

    /// Stops them; false when they were not running.
    @discardableResult
    public func pause() -> Bool {
        guard let task else { return false }
        task.cancel()
        self.task = nil
        return true
    }

    public var isRunning: Bool { task != nil }
}
