import ArgumentParser
import BulwarkAgent
import BulwarkCore
import Crypto
import Foundation

/// Input shared by the commands that classify content.
struct ContentInput: ParsableArguments {
    @Argument(help: "File to scan, or - for standard input.") var file: String
    @Option(help: "Bytes to read at most; beyond it the result says partial.") var maxBytes = 64 * 1024 * 1024
    @OptionGroup var keyOption: KeyOption

    /// Reads the input, extracts its text and labels, and classifies it with the built-in
    /// types and the policy's classifiers.
    func scan(policy: LoadedPolicy?) throws -> ScanResult {
        var limits = ExtractionLimits()
        limits.maxInputBytes = maxBytes
        let hash = try keyOption.keyedHash()
        var custom = CustomClassifiers.none
        if let policy {
            do { custom = try CustomClassifiers.load(policy.policy.classifiers, directory: policy.directory, keyedHash: hash) } catch {
                throw CommandFailure("invalid policy \(policy.path): \(error)")
            }
        }
        let scanner = ContentScanner(classifier: ContentClassifier(keyedHash: hash, custom: custom), extractor: ContentExtractor(limits: limits))
        if file == "-" {
            let data = try FileHandle.standardInput.read(upToCount: maxBytes + 1) ?? Data()
            return scanner.scan(data)
        }
        do { return try scanner.scan(path: file) } catch { throw CommandFailure("\(error)") }
    }
}

/// The deployment hash key option.
struct KeyOption: ParsableArguments {
    @Option(help: "Deployment hash key (32 bytes): adds keyed hashes to findings and enables EDM. Default: the enrolled agent's.")
    var key: String?

    static let enrolledKey = "/var/lib/bulwark-agent/hash.key"

    func keyedHash() throws -> KeyedHash? {
        let path = key ?? (FileManager.default.isReadableFile(atPath: Self.enrolledKey) ? Self.enrolledKey : nil)
        guard let path else { return nil }
        guard let data = FileManager.default.contents(atPath: path), data.count == 32 else {
            throw CommandFailure("\(path) is not a 32-byte hash key (the collector's hmac.key or an agent's hash.key)")
        }
        return KeyedHash(key: SymmetricKey(data: data))
    }
}

/// A policy and where it came from (its classifiers' files are relative to it).
struct LoadedPolicy {
    var policy: Policy
    var path: String
    var directory: String
}

/// Loads a policy file, or the built-in default when none is given.
func loadPolicy(_ path: String?) throws -> LoadedPolicy {
    guard let path else { return LoadedPolicy(policy: DefaultPolicy.policy(), path: "default policy", directory: FileManager.default.currentDirectoryPath) }
    do {
        return LoadedPolicy(policy: try PolicyParser.load(path: path), path: path, directory: (path as NSString).deletingLastPathComponent)
    } catch {
        throw CommandFailure("invalid policy: \(error)")
    }
}

func printJSON(_ value: some Encodable) throws {
    print(String(decoding: try WireCoding.encoder().encode(value), as: UTF8.self))
}

struct Scan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify a file or standard input: which sensitive information types it holds, how sure, and where.")
    @OptionGroup var input: ContentInput
    @Option(help: "Policy whose custom classifiers also run (default: built-in types only).") var policy: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let result = try input.scan(policy: try policy.map(loadPolicy))
        if json { return try printJSON(result) }
        if result.findings.isEmpty { print("no sensitive information found") }
        for finding in result.findings {
            print("\(finding.type): \(finding.count) match(es), confidence \(finding.confidence)")
            for match in finding.matches {
                print("  bytes \(match.start)–\(match.end)  \(match.masked)  (\(match.confidence))")
            }
        }
        for label in result.labels { print("label: \(label.name ?? label.id) [\(label.source)]") }
        if let reason = result.partialReason { print("partial: \(reason)") }
    }
}

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Check, try out and print DLP policies.",
        subcommands: [Check.self, Test.self, Install.self, Default.self, Types.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a policy file; prints the first error with line and column.")
        @Argument(help: "Policy YAML file.") var file: String
        @OptionGroup var keyOption: KeyOption

        func run() async throws {
            let loaded = try loadPolicy(file)
            let policy = loaded.policy
            // Files the classifiers need must exist and fit this deployment's key, too.
            do { _ = try CustomClassifiers.load(policy.classifiers, directory: loaded.directory, keyedHash: try keyOption.keyedHash()) } catch {
                throw CommandFailure("invalid policy \(file): \(error)")
            }
            print("\(file): policy '\(policy.name)' is valid: \(policy.rules.count) rule(s), \(policy.classifiers.count) custom classifier(s)")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide what the policy does with some content for an activity and destination, and why.")
        @OptionGroup var input: ContentInput
        @Option(help: "Policy YAML file (default: the built-in default policy).") var policy: String?
        @Option(help: "Activity: paste, file_upload, file_read_by_ai_tool, copy.") var activity: String
        @Option(help: "Destination app id from the catalog, e.g. chatgpt.") var dest: String
        @Option(help: "Destination category when the app is not in the catalog (consumer_ai, ai_coding, ...).") var category: String?
        @Option(help: "Sanction state of the destination: unreviewed, sanctioned, monitored, unsanctioned.") var sanction = "unreviewed"
        @Option(help: "User name the rule scopes see.") var user: String?
        @Option(help: "A group of the user (repeatable).") var group: [String] = []
        @Option(help: "Host name the rule scopes see.") var host: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            guard let activity = Activity(rawValue: activity) else {
                throw ValidationError("--activity must be one of: \(Activity.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let sanction = SanctionState(rawValue: sanction) else {
                throw ValidationError("--sanction must be one of: \(SanctionState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let app = AIAppCatalog().app(id: dest)
            guard let category = category ?? app?.category else {
                throw ValidationError("'\(dest)' is not in the catalog; give its --category")
            }
            let policy = try loadPolicy(policy)
            let content = try input.scan(policy: policy)
            let decision = PolicyEvaluator(policy: policy.policy).evaluate(PolicyRequest(
                activity: activity, destination: Destination(appID: dest, category: category, sanction: sanction),
                user: user, groups: Set(group), host: host, content: content))
            if json { return try printJSON(decision) }
            print(decision.summary)
            if let message = decision.message { print("user message: \(message)") }
            if let helpdesk = decision.helpdesk { print("helpdesk: \(helpdesk)") }
            if decision.overridable { print("the user may override with a justification") }
            for outcome in decision.matched where outcome.rule != decision.rule || outcome.excepted {
                print("also \(outcome.excepted ? "excepted" : "matched"): \(outcome.rule) (\(outcome.action.rawValue)): \(outcome.because.joined(separator: "; "))")
            }
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a policy file the agent's policy (kept as its last good policy); a policy that does not load is refused.")
        @OptionGroup var state: StateOption
        @Argument(help: "Policy YAML file; its EDM tables and fingerprints must be in the state directory.") var file: String

        func run() async throws {
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch { throw CommandFailure("cannot read \(file): \(error.localizedDescription)") }
            let agentState = state.agentState
            let store = PolicyStore(state: agentState, keyedHash: try agentState.loadKeyedHash())
            do {
                let active = try await store.install(text, source: file)
                print("installed policy '\(active.policy.name)' (\(active.policy.rules.count) rules) as \(active.source); a running agent applies it within seconds and passes it to the session helpers")
            } catch {
                throw CommandFailure("\(error)")
            }
        }
    }

    struct Default: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the built-in default policy (a starting point for your own).")
        func run() async throws { print(DefaultPolicy.yaml) }
    }

    struct Types: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the built-in information type ids policy conditions can name.")
        func run() async throws { ContentClassifier.builtInTypes.sorted().forEach { print($0) } }
    }
}
