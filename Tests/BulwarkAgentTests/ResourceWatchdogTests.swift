@testable import BulwarkAgent
import BulwarkCore
import Foundation
import Logging
import Synchronization
import Testing

@Suite("Resource watchdog")
struct ResourceWatchdogTests {
    /// Usage a test sets; the watchdog reads it as if from /proc.
    final class Usage: Sendable {
        let state = Mutex((rss: 0, cpu: 0.0))
        func sample() -> ResourceWatchdog.Sample {
            state.withLock { ResourceWatchdog.Sample(rssBytes: $0.rss, cpuSeconds: $0.cpu, at: .now) }
        }
    }

    @Test("memory over the limit for a window pauses the discovery sensors and says so; back under for a window, they resume")
    func memory() async throws {
        let usage = Usage()
        usage.state.withLock { $0.rss = 200 * 1_048_576 }
        let ran = Mutex(0)
        let sensors = PausableSensors(names: ["browser history"], logger: Logger(label: "test")) {
            ran.withLock { $0 += 1 }
            try await Task.sleep(for: .seconds(3600))
        }
        await sensors.resume()
        let records = Mutex<[(String, String)]>([])
        let watchdog = ResourceWatchdog(
            limits: .init(rssBytes: 150 * 1_048_576, cpuPercent: 0, window: .milliseconds(300), interval: .milliseconds(50)),
            sensors: sensors, logger: Logger(label: "test"), sample: { usage.sample() }
        ) { status, message in records.withLock { $0.append((status, message)) } }
        let task = Task { try await watchdog.run() }
        defer { task.cancel() }

        try await Self.waitFor { records.withLock { $0.count } == 1 }
        #expect(records.withLock { $0[0].0 } == "degraded")
        #expect(records.withLock { $0[0].1 }.contains("resident memory 200 MB is over the 150 MB limit; paused the discovery sensors (browser history)"))
        #expect(await sensors.isRunning == false)

        usage.state.withLock { $0.rss = 100 * 1_048_576 }
        try await Self.waitFor { records.withLock { $0.count } == 2 }
        #expect(records.withLock { $0[1].0 } == "recovered")
        #expect(await sensors.isRunning)
        try await Self.waitFor { ran.withLock { $0 } == 2 }
    }

    @Test("CPU is judged as an average over most of a window: a burst is not sustained; steady use over the limit is")
    func cpu() {
        let watchdog = ResourceWatchdog(
            limits: .init(rssBytes: 0, cpuPercent: 10, window: .seconds(60), interval: .seconds(5)),
            sensors: PausableSensors(names: [], logger: Logger(label: "test")) {}, logger: Logger(label: "test")
        ) { _, _ in }
        let start = ContinuousClock.now
        // 5 s at 100%: over the limit, but not over most of a window yet.
        #expect(watchdog.overLimit([.init(rssBytes: 0, cpuSeconds: 0, at: start), .init(rssBytes: 0, cpuSeconds: 5, at: start + .seconds(5))]) == nil)
        // 60 s at 20%: sustained.
        let reason = watchdog.overLimit([.init(rssBytes: 0, cpuSeconds: 0, at: start), .init(rssBytes: 0, cpuSeconds: 12, at: start + .seconds(60))])
        #expect(reason == "CPU 20.0% over 60 s is over the 10% limit")
        // 60 s at 5%: fine.
        #expect(watchdog.overLimit([.init(rssBytes: 0, cpuSeconds: 0, at: start), .init(rssBytes: 0, cpuSeconds: 3, at: start + .seconds(60))]) == nil)
    }

    @Test("this process's own usage is read from /proc")
    func sample() throws {
        let first = try #require(ResourceWatchdog.Sample.current())
        #expect(first.rssBytes > 1_048_576)
        // Busy until the kernel has counted CPU time (clock ticks are 10 ms), at most 5 s: a
        // reading of the wrong /proc fields would not grow.
        var spin = 0.0
        var second = first
        let deadline = ContinuousClock.now + .seconds(5)
        while second.cpuSeconds <= first.cpuSeconds, ContinuousClock.now < deadline {
            for index in 0..<1_000_000 { spin += sqrt(Double(index)) }
            second = try #require(ResourceWatchdog.Sample.current())
        }
        #expect(second.cpuSeconds > first.cpuSeconds && spin > 0)
    }

    static func waitFor(_ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while await !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
