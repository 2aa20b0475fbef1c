@testable import BulwarkCollector
import BulwarkCore
import Foundation
import Logging
import Testing

/// The snapshot the policy route answers from, against a real store of each backend, with a
/// second store on the same database standing in for another collector.
@Suite("Policy feed")
struct PolicyFeedTests {
    func unsanction(_ app: String, in store: any CollectorStore) async throws {
        _ = try await store.setAppState(id: app, change: AppStateChange(state: .unsanctioned, reason: "test", by: "admin", at: Date()))
    }

    @Test("within the check interval the held snapshot is served; a request that needs a read begun after it arrived gets one", arguments: StoreBackend.allCases)
    func readSince(_ backend: StoreBackend) async throws {
        let opened = try await StoreUnderTest.open(backend)
        let other = try await opened.another()
        let feed = PolicyFeed(store: opened.store, logger: Logger(label: "test"), checkInterval: .seconds(60))

        #expect(try await feed.current().appStates.isEmpty)
        try await unsanction("ollama", in: other)
        // Held: the revision was read less than `checkInterval` ago.
        #expect(try await feed.current().appStates.isEmpty)
        // Read before this moment does not count.
        let arrived = Date()
        #expect(try await feed.current(readSince: arrived).appStates["ollama"] == .unsanctioned)
        // That read counts for a request that arrived before it: the change is now held.
        #expect(try await feed.current(readSince: arrived).appStates["ollama"] == .unsanctioned)
        #expect(try await feed.current().appStates["ollama"] == .unsanctioned)
        try await other.close()
    }

    @Test("a change another collector made wakes the waiting requests with the new snapshot", arguments: StoreBackend.allCases)
    func wakesWaiters(_ backend: StoreBackend) async throws {
        let opened = try await StoreUnderTest.open(backend)
        let other = try await opened.another()
        let feed = PolicyFeed(store: opened.store, logger: Logger(label: "test"), checkInterval: .milliseconds(100))
        let running = Task { try await feed.run() }
        defer { running.cancel() }
        // Past the first check, which wakes whoever waits (it has woken no one yet).
        try await Task.sleep(for: .milliseconds(300))

        let arrived = Date()
        let seen = try await feed.current()
        async let woken = feed.waitForChange(from: seen, timeout: .seconds(10))
        while await feed.waiting == 0 { try await Task.sleep(for: .milliseconds(10)) }
        let changedAt = ContinuousClock.now
        try await unsanction("cursor", in: other)
        #expect(await woken)
        #expect(ContinuousClock.now - changedAt < .seconds(2))
        // The check that woke it began after the request arrived: it is what the request gets.
        #expect(try await feed.current(readSince: arrived).appStates["cursor"] == .unsanctioned)
        try await other.close()
    }

    @Test("a wait with nothing changing ends at its timeout", arguments: [StoreBackend.sqlite])
    func waitTimesOut(_ backend: StoreBackend) async throws {
        let opened = try await StoreUnderTest.open(backend)
        let feed = PolicyFeed(store: opened.store, logger: Logger(label: "test"), checkInterval: .milliseconds(50))
        let running = Task { try await feed.run() }
        defer { running.cancel() }
        try await Task.sleep(for: .milliseconds(200))
        let seen = try await feed.current()
        let began = ContinuousClock.now
        #expect(await feed.waitForChange(from: seen, timeout: .milliseconds(300)))
        let waited = ContinuousClock.now - began
        #expect(waited >= .milliseconds(300))
        #expect(await feed.waiting == 0)
    }
}
