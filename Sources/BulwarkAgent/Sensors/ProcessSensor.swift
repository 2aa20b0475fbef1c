import BulwarkCore
import CBulwarkLinux
import Foundation
import Logging

/// Discovers AI programs as they run: a `/proc` scan at start, then the kernel's process events
/// (netlink proc connector: every exec and exit, as it happens). Without the connector (no
/// CAP_NET_ADMIN) it falls back to scanning `/proc` every `fallbackInterval`. A program is an AI
/// app when its executable — or, for an interpreter (python, node...), the script it runs — has
/// a catalog name. Emits `ai.process.started` and `ai.process.stopped`: user, pid, executable and
/// its SHA-256 (cached by device, inode, size and mtime), never the command line (it may hold
/// secrets).
public final class ProcessSensor: @unchecked Sendable {
    // `running` and `hashes` are touched only on the sensor's thread.

    public typealias Sighting = AIProgramMatcher.Sighting

    let catalogSource: CatalogSource
    var catalog: AIAppCatalog { catalogSource.current }
    let spool: SpoolStore
    let logger: Logger
    let fallbackInterval: Duration
    private var running: [pid_t: (sighting: Sighting, since: ContinuousClock.Instant)] = [:]
    private var hashes: [FileStamp: String] = [:]

    let discovery: DiscoveryState

    public init(
        catalog: CatalogSource = CatalogSource(), discovery: DiscoveryState = DiscoveryState(), spool: SpoolStore, logger: Logger,
        fallbackInterval: Duration = .seconds(10)
    ) {
        catalogSource = catalog
        self.discovery = discovery
        self.spool = spool
        self.logger = logger
        self.fallbackInterval = fallbackInterval
    }

    /// Runs until cancelled (the connector is read on a thread of its own).
    public func run() async throws {
        scan(source: "scan")
        let descriptor = cbulwark_proc_events_open()
        guard descriptor >= 0 else {
            logger.warning("process events unavailable (\(String(cString: strerror(errno)))); scanning /proc every \(fallbackInterval) instead")
            while !Task.isCancelled {
                try await Task.sleep(for: fallbackInterval)
                scan(source: "scan")
            }
            return
        }
        logger.info("process sensor listening to kernel process events")
        let stream = AsyncStream<[cbulwark_proc_event]>(bufferingPolicy: .bufferingNewest(4096)) { continuation in
            let thread = Thread {
                var buffer = [cbulwark_proc_event](repeating: cbulwark_proc_event(), count: 64)
                while true {
                    let count = cbulwark_proc_events_read(descriptor, &buffer, Int32(buffer.count))
                    if count < 0 {
                        if errno == EINTR || errno == ENOBUFS { continue }  // ENOBUFS: the kernel dropped events; the next scan catches up
                        break
                    }
                    if count > 0 { continuation.yield(Array(buffer.prefix(Int(count)))) }
                }
                continuation.finish()
            }
            thread.name = "bulwark-proc-events"
            thread.start()
            continuation.onTermination = { _ in shutdown(descriptor, Int32(SHUT_RDWR)); close(descriptor) }
        }
        try await withTaskCancellationHandler {
            for await batch in stream {
                for event in batch where event.pid == event.tgid {  // processes, not threads
                    if event.kind == 1 { exec(pid: event.tgid) } else if event.kind == 2 { exited(pid: event.tgid) }
                }
            }
        } onCancel: {
            shutdown(descriptor, Int32(SHUT_RDWR))
        }
    }

    /// What a running process is, if it is an AI app.
    func identify(pid: pid_t) -> Sighting? { AIProgramMatcher(catalog: catalog).identify(pid: pid) }

    /// Every process now: new AI processes start, gone ones stop (also what the fallback does;
    /// public for `bulwark-bench discovery`).
    public func scan(source: String) {
        let pids = Set(ProcessLineage.runningPIDs())
        for pid in running.keys where !pids.contains(pid) { exited(pid: pid) }
        for pid in pids.sorted() where running[pid] == nil {
            if let sighting = identify(pid: pid) { started(sighting, source: source) }
        }
    }

    private func exec(pid: pid_t) {
        // A tracked process that execs something else has stopped being that app.
        if let tracked = running[pid], identify(pid: pid)?.app.id != tracked.sighting.app.id { exited(pid: pid) }
        if running[pid] == nil, let sighting = identify(pid: pid) { started(sighting, source: "exec") }
    }

    private func started(_ sighting: Sighting, source: String) {
        running[sighting.pid] = (sighting, .now)
        var data = common(sighting)
        data["source"] = .string(source)
        if let hash = sha256(of: sighting.script ?? sighting.executable, pid: sighting.pid) { data["sha256"] = .string(hash) }
        record(EventType.aiProcessStarted, data)
        discovery.set(
            "process:\(sighting.pid)",
            .init(app: sighting.app.id, category: sighting.app.category, evidence: "process", user: data["user"]?.stringValue))
    }

    private func exited(pid: pid_t) {
        guard let (sighting, since) = running.removeValue(forKey: pid) else { return }
        discovery.set("process:\(pid)", nil)
        var data = common(sighting)
        let elapsed = ContinuousClock.now - since
        data["runtime_s"] = .number((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18).rounded())
        record(EventType.aiProcessStopped, data)
    }

    private func common(_ sighting: Sighting) -> [String: JSONValue] {
        var data: [String: JSONValue] = [
            "app": .string(sighting.app.id), "category": .string(sighting.app.category), "pid": .number(Double(sighting.pid)),
            "exe": .string(sighting.executable), "uid": .number(Double(sighting.uid)), "evidence": .string("process"),
        ]
        if let script = sighting.script { data["script"] = .string(script) }
        if let user = SessionServer.userName(sighting.uid) { data["user"] = .string(user) }
        return data
    }

    private func record(_ type: String, _ data: [String: JSONValue]) { spool.record(type, data, logger: logger) }

    /// SHA-256 of a program, read through the process (`/proc/PID/exe` still opens a binary that
    /// was replaced or deleted since), cached by file identity so a program is hashed once.
    private func sha256(of path: String, pid: pid_t) -> String? {
        let source = path.hasPrefix("/") && FileManager.default.fileExists(atPath: path) ? path : "/proc/\(pid)/exe"
        guard let identity = FileStamp(path: source) else { return nil }
        if let known = hashes[identity] { return known }
        guard identity.size <= 2 * 1024 * 1024 * 1024 else { return nil }
        let descriptor = open(source, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        guard let hex = FileDigest.sha256(descriptor: descriptor) else { return nil }
        if hashes.count > 4096 { hashes.removeAll() }
        hashes[identity] = hex
        return hex
    }

}

/// Which AI app a process is: its executable's name, or for an interpreter (python, node, sh...)
/// its script's, looked up in the catalog.
public struct AIProgramMatcher: Sendable {
    public struct Sighting: Sendable, Equatable {
        public var app: AIApp
        public var pid: pid_t
        public var uid: uid_t
        public var executable: String
        /// The script an interpreter runs, when that is what matched.
        public var script: String?
    }

    /// Interpreters whose first argument names the program (a `#!/usr/bin/env python3` tool).
    static let interpreters: Set<String> = ["python", "python3", "node", "nodejs", "bun", "deno", "ruby", "perl", "sh", "bash", "dash", "zsh"]

    public let catalog: AIAppCatalog

    public init(catalog: AIAppCatalog) {
        self.catalog = catalog
    }

    /// What a running process is, if it is an AI app.
    public func identify(pid: pid_t) -> Sighting? {
        guard let executable = ProcessLineage.executablePath(of: pid) else { return nil }
        let uid = Self.uid(of: pid) ?? 0
        if let app = catalog.app(executable: executable) {
            return Sighting(app: app, pid: pid, uid: uid, executable: executable, script: nil)
        }
        let name = (executable as NSString).lastPathComponent
        let base = name.split(separator: ".").first.map(String.init) ?? name  // python3.11 → python3
        guard Self.interpreters.contains(base) || Self.interpreters.contains(name),
            let arguments = ProcessLineage.readProcBytes("/proc/\(pid)/cmdline")?.split(separator: 0).dropFirst()
                .map({ String(decoding: $0, as: UTF8.self) })
        else { return nil }
        // The first argument that is not an option is the script, named by its file…
        let script = arguments.first(where: { !$0.hasPrefix("-") })
        if let script, let app = catalog.app(executable: script) {
            return Sighting(app: app, pid: pid, uid: uid, executable: executable, script: script)
        }
        // …or by where it lives (`python main.py` in ComfyUI/) or the module run (`-m vllm…`).
        var words = arguments
        var resolved = script
        if let script, let index = words.firstIndex(of: script), !script.hasPrefix("/"),
            let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
        {
            resolved = (cwd as NSString).appendingPathComponent(script)
            words[index] = resolved ?? script
        }
        guard let app = catalog.app(commandLine: words.joined(separator: " ")) else { return nil }
        // A module run (`-m vllm…`) has no script file to hash.
        let file = resolved.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        return Sighting(app: app, pid: pid, uid: uid, executable: executable, script: file)
    }

    static func uid(of pid: pid_t) -> uid_t? {
        var status = stat()
        guard stat("/proc/\(pid)", &status) == 0 else { return nil }
        return status.st_uid
    }
}

extension SpoolStore {
    /// Spools one discovery event (telemetry priority); a failure (disk full) is logged, and
    /// the sensor carries on: its next change or summary reports the state then.
    func record(_ type: String, _ data: [String: JSONValue], priority: EventPriority = .telemetry, logger: Logger) {
        do {
            try append([EventDraft(type: type, data: data, priority: priority)])
        } catch {
            logger.error("cannot spool \(type)", metadata: ["error": "\(error)"])
        }
    }
}
