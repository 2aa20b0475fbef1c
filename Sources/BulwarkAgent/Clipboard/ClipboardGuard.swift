import BulwarkCore
import Foundation

/// The clipboard guard's policy side: classifies each copy once, guards a selection when some
/// paste of it could be warned about or blocked, and decides each paste of guarded content from
/// the requesting program (mapped to a catalog app) and the policy. Records `clipboard.copy` and
/// `paste.*` events through `record`.
public final class ClipboardGuard: ClipboardGuarding, @unchecked Sendable {
    // `scans` is the only mutable state, behind `lock`: copies and pastes arrive on the display
    // backend's thread, policy updates from elsewhere.

    public typealias Recorder = @Sendable (_ type: String, _ data: [String: JSONValue]) -> Void

    private var evaluator: PolicyEvaluator
    private var scanner: ContentScanner
    private let catalog: AIAppCatalog
    private let keyedHash: KeyedHash?
    private let user: String?
    private let record: Recorder
    private let lock = NSLock()
    private var scans: [ClipboardContent.Selection: ScanResult] = [:]
    /// The last refused paste, so a client retrying other formats (UTF8_STRING, then STRING,
    /// then TEXT) makes one incident, not three.
    private var lastRefusal: (pid: pid_t?, selection: ClipboardContent.Selection, at: ContinuousClock.Instant)?

    /// Where a paste can go, for deciding at copy time whether anything could be stopped.
    private static let aiDestinations: [Destination] = AIAppCatalog.categories.sorted().flatMap { category in
        [Destination(appID: nil, category: category, sanction: .unreviewed), Destination(appID: nil, category: category, sanction: .unsanctioned)]
    }

    public init(policy: Policy, classifier: ContentClassifier, catalog: AIAppCatalog = AIAppCatalog(), keyedHash: KeyedHash?, user: String?,
                record: @escaping Recorder) {
        evaluator = PolicyEvaluator(policy: policy)
        scanner = ContentScanner(classifier: classifier)
        self.catalog = catalog
        self.keyedHash = keyedHash
        self.user = user
        self.record = record
    }

    /// A new policy (from the agent) applies to the next copy and paste.
    public func update(policy: Policy, classifier: ContentClassifier) {
        lock.withLock {
            evaluator = PolicyEvaluator(policy: policy)
            scanner = ContentScanner(classifier: classifier)
            scans = [:]
        }
    }

    public func copied(_ content: ClipboardContent) -> Bool {
        let (scanner, evaluator) = lock.withLock { (self.scanner, self.evaluator) }
        let scan = scanner.scan(content)
        lock.withLock { scans[content.selection] = scan }
        record(EventType.clipboardCopy, ClipboardCopyRecord.data(content, scan: scan, keyedHash: keyedHash, user: user))
        // Guard when some paste to an AI destination would be warned about or blocked.
        return Self.aiDestinations.contains { destination in
            evaluator.evaluate(PolicyRequest(activity: .paste, destination: destination, user: user, content: scan)).action >= .warn
        }
    }

    public func pasteRequested(_ request: PasteRequest) -> PasteVerdict {
        let (cached, scanner, evaluator) = lock.withLock { (scans[request.selection], self.scanner, self.evaluator) }
        let scan = cached ?? scanner.scan(request.content)
        let executable = request.requestorPID.flatMap(ClipboardCopyRecord.executablePath(of:))
        let app = executable.flatMap(catalog.app(executable:))
        let destination = Destination(appID: app?.id, category: app?.category, sanction: .unreviewed)
        let decision = evaluator.evaluate(PolicyRequest(activity: .paste, destination: destination, user: user, content: scan))
        let outcome: String
        switch decision.action {
        case .allow: outcome = "allowed"
        case .audit: outcome = "audited"
        case .warn: outcome = "warned"
        case .block: outcome = "blocked"
        }
        let refused = decision.action > .audit
        let repeated = lock.withLock { () -> Bool in
            defer { if refused { lastRefusal = (request.requestorPID, request.selection, .now) } }
            guard refused, let last = lastRefusal else { return false }
            return last.pid == request.requestorPID && last.selection == request.selection && ContinuousClock.now - last.at < .seconds(2)
        }
        if repeated { return PasteVerdict(serve: false) }
        var data: [String: JSONValue] = [
            "incident_id": .string(DLPEvent.newIncidentID()),
            "selection": .string(request.selection.rawValue),
            "target": .string(request.target),
            "findings": ClipboardCopyRecord.findings(scan),
        ]
        if let app { data["app"] = .string(app.id) }
        if let category = app?.category { data["category"] = .string(category) }
        if let rule = decision.rule { data["rule"] = .string(rule) }
        if let pid = request.requestorPID { data["requestor_pid"] = .number(Double(pid)) }
        if let executable { data["requestor_exe"] = .string(executable) }
        // Warn refuses this paste too until the override flow (notification action) exists.
        let record = self.record
        let finished = data
        return PasteVerdict(serve: !refused) { latency in
            var event = finished
            event["latency_ms"] = .number(Double(latency.components.attoseconds) / 1e15 + Double(latency.components.seconds) * 1000)
            record(EventType.paste(outcome), event)
        }
    }
}
