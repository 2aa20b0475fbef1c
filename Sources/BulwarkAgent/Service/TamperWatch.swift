import BulwarkCore
import Foundation
import Logging

/// Notices someone working against the running agent and says so while it still can
/// (`agent.tamper`): its state files deleted or replaced, its systemd unit disabled or masked.
/// The spool stays usable while its files are open, so the event still reaches the collector.
public struct TamperWatch: Sendable {
    /// The unit's enablement link and unit path (systemd's usual places).
    public struct UnitPaths: Sendable {
        public var wantsLink: String
        public var unitOverride: String

        public init(wantsLink: String = "/etc/systemd/system/multi-user.target.wants/bulwark-agent.service",
                    unitOverride: String = "/etc/systemd/system/bulwark-agent.service") {
            self.wantsLink = wantsLink
            self.unitOverride = unitOverride
        }
    }

    let state: AgentState
    let unit: UnitPaths
    let interval: Duration
    let record: @Sendable (_ action: String, _ detail: String) -> Void
    let baseline: Baseline

    /// Takes the baseline now: create the watch before the agent says it is running, so a change
    /// made right after that is a change, not the baseline.
    public init(state: AgentState, unit: UnitPaths = UnitPaths(), interval: Duration = .seconds(2), record: @escaping @Sendable (String, String) -> Void) {
        self.state = state
        self.unit = unit
        self.interval = interval
        self.record = record
        let watched = [state.keyPath, state.certificatePath, state.enrollmentPath]
        self.baseline = Baseline(
            files: Dictionary(uniqueKeysWithValues: watched.compactMap { path in Self.inode(path).map { (path, $0) } }),
            unitEnabled: FileManager.default.fileExists(atPath: unit.wantsLink))
    }

    /// What is watched, as first seen.
    struct Baseline: Sendable {
        var files: [String: UInt64]  // path → inode
        var unitEnabled: Bool
    }

    static func inode(_ path: String) -> UInt64? { FileStamp(path: path)?.inode }

    /// Checks until cancelled; each finding is reported once until it is undone.
    public func run() async throws {
        var reported: Set<String> = []
        func report(_ key: String, _ action: String, _ detail: String) {
            guard reported.insert(key).inserted else { return }
            record(action, detail)
        }
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            for (path, inode) in baseline.files {
                let name = (path as NSString).lastPathComponent
                switch Self.inode(path) {
                case nil: report("gone:\(path)", "state_deleted", "\(name) was deleted from \(state.directory) while the agent ran; it keeps running on what it loaded, but will not start again without re-enrolling")
                case let now? where now != inode: report("replaced:\(path)", "state_replaced", "\(name) in \(state.directory) was replaced while the agent ran")
                default: reported.remove("gone:\(path)")
                }
            }
            if baseline.unitEnabled {
                if FileManager.default.fileExists(atPath: unit.wantsLink) {
                    reported.remove("disabled")
                } else {
                    report("disabled", "unit_disabled", "bulwark-agent.service was disabled (\(unit.wantsLink) removed): the agent will not start at the next boot")
                }
            }
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: unit.unitOverride)) == "/dev/null" {
                report("masked", "unit_masked", "bulwark-agent.service was masked (\(unit.unitOverride) → /dev/null): it cannot be started")
            } else {
                reported.remove("masked")
            }
        }
    }

    /// Whether the system is shutting down (a stop then is not tampering): systemd creates
    /// /run/nologin when it begins to, and `systemctl is-system-running` says `stopping`.
    public static func systemShuttingDown() -> Bool {
        if FileManager.default.fileExists(atPath: "/run/nologin") { return true }
        guard FileManager.default.fileExists(atPath: "/run/systemd/system") else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemctl")
        process.arguments = ["is-system-running"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        let state = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return state == "stopping"
    }
}
