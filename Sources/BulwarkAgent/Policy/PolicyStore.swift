import BulwarkCore
import Foundation

/// The policy the agent enforces. The last good policy lives in the state directory
/// (`policy.yaml`); a new one replaces it only if it parses and its classifiers load, so a
/// broken update (a typo, a missing EDM table) leaves the agent protected by the old one.
/// With no stored policy the built-in default applies.
public actor PolicyStore {
    /// The policy in force and the classifier built for it.
    public struct Active: Sendable {
        public var policy: Policy
        public var classifier: ContentClassifier
        /// `default` or the path it was loaded from.
        public var source: String
        /// The policy's text, as session helpers receive it.
        public var yaml: String
    }

    /// A refused policy update: the precise error, and which policy stays in force.
    public struct Refusal: Error, CustomStringConvertible {
        public var reason: String
        public var keeping: String
        public var description: String { "policy update refused: \(reason); keeping \(keeping)" }
    }

    private let state: AgentState
    private let keyedHash: KeyedHash?
    public private(set) var active: Active
    /// The stored file's modification time and size when last read, to notice a new one.
    private var stamp: FileStamp?

    struct FileStamp: Equatable {
        var modified: Date
        var size: Int

        init?(path: String) {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  let modified = attributes[.modificationDate] as? Date, let size = attributes[.size] as? Int else { return nil }
            self.modified = modified
            self.size = size
        }
    }

    public var path: String { state.path("policy.yaml") }

    /// Which collector policy version `policy.yaml` holds (absent: a local or default policy).
    struct Origin: Codable, Equatable {
        var version: Int
        var sha256: String
    }

    static func originPath(_ state: AgentState) -> String { state.path("policy-origin.json") }

    /// The collector policy version this agent runs (0: its own local or built-in policy):
    /// what heartbeats report.
    public static func collectorVersion(in state: AgentState) -> Int {
        (try? Data(contentsOf: URL(fileURLWithPath: originPath(state)))).flatMap { try? JSONDecoder().decode(Origin.self, from: $0) }?.version ?? 0
    }

    /// Installs the collector's policy unless it is the one already in force: the new policy
    /// when installed, nil when nothing changed, a `Refusal` (the current one stays) when it
    /// does not parse or load here (a classifier file missing on this machine).
    public func install(_ distributed: DistributedPolicy) -> Result<Active, Refusal>? {
        let originPath = Self.originPath(state)
        let origin = (try? Data(contentsOf: URL(fileURLWithPath: originPath))).flatMap { try? JSONDecoder().decode(Origin.self, from: $0) }
        guard origin?.sha256 != distributed.sha256 || origin?.version != distributed.version else { return nil }
        do {
            let active = try install(distributed.yaml, source: "collector policy v\(distributed.version)", fromCollector: true)
            try SecureFile.write(try JSONEncoder().encode(Origin(version: distributed.version, sha256: distributed.sha256)), to: originPath, mode: .publicReadable)
            return .success(active)
        } catch let refusal as Refusal {
            return .failure(refusal)
        } catch {
            return .failure(Refusal(reason: "\(error)", keeping: "policy '\(active.policy.name)' from \(active.source)"))
        }
    }

    /// Loads the stored policy; `problem` says why the default was used instead of a stored
    /// policy that no longer loads (the agent logs it and keeps running, protected).
    public init(state: AgentState, keyedHash: KeyedHash?) {
        self.state = state
        self.keyedHash = keyedHash
        let stored = state.path("policy.yaml")
        stamp = FileStamp(path: stored)
        let fallback = Active(policy: DefaultPolicy.policy(), classifier: ContentClassifier(keyedHash: keyedHash), source: "default", yaml: DefaultPolicy.yaml)
        guard FileManager.default.fileExists(atPath: stored) else {
            active = fallback
            return
        }
        do {
            active = try Self.prepare(text: try String(contentsOfFile: stored, encoding: .utf8), source: stored, directory: state.directory, keyedHash: keyedHash)
        } catch {
            active = fallback
            startupProblem = "stored policy \(stored) does not load (\(error)); enforcing the built-in default"
        }
    }

    /// Why the stored policy was not used at start-up, if it was not.
    public private(set) var startupProblem: String?

    /// Checks `text` and, if it is usable, makes it the policy in force and stores it as the
    /// last good policy (atomically, 0644).
    @discardableResult
    public func install(_ text: String, source: String) throws -> Active {
        try install(text, source: source, fromCollector: false)
    }

    private func install(_ text: String, source: String, fromCollector: Bool) throws -> Active {
        let candidate: Active
        do {
            candidate = try Self.prepare(text: text, source: source, directory: state.directory, keyedHash: keyedHash)
        } catch {
            throw Refusal(reason: "\(error)", keeping: "policy '\(active.policy.name)' from \(active.source)")
        }
        try SecureFile.write(Data(text.utf8), to: path, mode: .publicReadable)
        // Installed by hand: no longer the collector's version (the collector's next version
        // replaces it again).
        unlink(Self.originPath(state))
        active = candidate
        active.source = fromCollector ? source : path
        stamp = FileStamp(path: path)
        return active
    }

    /// Re-reads the stored policy when the file changed since it was last read (an admin ran
    /// `bulwark-agent policy install`, configuration management replaced it): the new policy
    /// when it loads, a `Refusal` (the old one stays in force) when it does not, nil when
    /// nothing changed. A file that disappeared leaves the policy in force as it is.
    public func reloadIfChanged() -> Result<Active, Refusal>? {
        let current = FileStamp(path: path)
        guard let current, current != stamp else { return nil }
        stamp = current
        unlink(Self.originPath(state))  // replaced by hand: a local policy now
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            var candidate = try Self.prepare(text: text, source: path, directory: state.directory, keyedHash: keyedHash)
            candidate.source = path
            active = candidate
            return .success(candidate)
        } catch {
            return .failure(Refusal(reason: "\(error)", keeping: "policy '\(active.policy.name)' from \(active.source)"))
        }
    }

    static func prepare(text: String, source: String, directory: String, keyedHash: KeyedHash?) throws -> Active {
        let policy = try PolicyParser(source: source).parse(text)
        let custom = try CustomClassifiers.load(policy.classifiers, directory: directory, keyedHash: keyedHash)
        return Active(policy: policy, classifier: ContentClassifier(keyedHash: keyedHash, custom: custom), source: source, yaml: text)
    }
}
