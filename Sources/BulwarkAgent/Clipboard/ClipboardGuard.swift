import BulwarkCore
import Foundation

/// The clipboard guard's policy side: classifies each copy once, guards a selection when some
/// paste of it could be warned about or blocked, and decides each paste of guarded content from
/// the requesting program (mapped to a catalog app; a browser by its active window's title) and
/// the policy. A refused paste notifies the user; a warning's "Paste anyway" with a reason lets
/// the next paste of the same copy to the same destination through for `overrideWindow`.
/// Records `clipboard.copy` and `paste.*` events through `record`.
public final class ClipboardGuard: ClipboardGuarding, @unchecked Sendable {
    // Mutable state is behind `lock`: copies and pastes arrive on the display backend's thread,
    // policy updates and notification answers from others.

    public typealias Recorder = @Sendable (_ type: String, _ data: [String: JSONValue]) -> Void

    /// How long "Paste anyway" stays good for.
    public let overrideWindow: Duration
    /// What is enforced; shared with the session's browser guard.
    public let policy: SessionPolicy
    private let keyedHash: KeyedHash?
    private let user: String?
    private let notifier: (any UserNotifier)?
    private let record: Recorder
    /// The front tab of browsers whose extension is connected (the session helper's bridge).
    private let browserFocus: BrowserFocus?
    /// Where pastes served to such a browser are noted, so its extension does not decide them again.
    private let servedToBrowsers: ServedPasteLedger?
    private let lock = NSLock()
    /// The policy revision `copies` and `overrides` were made under: a new policy ends them.
    private var revision: Int
    private var copies: [ClipboardContent.Selection: (scan: ScanResult, generation: Int)] = [:]
    private var generation = 0
    /// The last refused paste, so a client retrying other formats (UTF8_STRING, then STRING,
    /// then TEXT) makes one incident, not three.
    private var lastRefusal: (pid: pid_t?, selection: ClipboardContent.Selection, at: ContinuousClock.Instant)?
    private var overrides: [Override] = []
    /// Served pastes already recorded, by process, selection and copy: a clipboard manager
    /// polling the selection (parcellite reads it twice a second) makes one event, not a stream.
    private var recorded: Set<RecordedPaste> = []

    struct RecordedPaste: Hashable {
        var pid: pid_t?
        var selection: ClipboardContent.Selection
        var generation: Int
    }

    /// A granted "Paste anyway": one paste of one copy to one destination.
    struct Override {
        var incidentID: String
        var justification: String
        var destination: String
        var selection: ClipboardContent.Selection
        var generation: Int
        var expires: ContinuousClock.Instant
        /// Once used: the pasting process, which may fetch other formats of the same paste
        /// within two seconds.
        var usedBy: (pid: pid_t?, until: ContinuousClock.Instant)?
    }

    /// Where a paste can go, for deciding at copy time whether anything could be stopped.
    private static let aiDestinations: [Destination] = AIAppCatalog.categories.sorted().flatMap { category in
        [Destination(appID: nil, category: category, sanction: .unreviewed), Destination(appID: nil, category: category, sanction: .unsanctioned)]
    }

    public init(
        policy: SessionPolicy, keyedHash: KeyedHash?, user: String?, notifier: (any UserNotifier)? = nil, overrideWindow: Duration = .seconds(60),
        browserFocus: BrowserFocus? = nil, servedToBrowsers: ServedPasteLedger? = nil, record: @escaping Recorder
    ) {
        self.browserFocus = browserFocus
        self.servedToBrowsers = servedToBrowsers
        self.policy = policy
        revision = policy.current.revision
        self.keyedHash = keyedHash
        self.user = user
        self.notifier = notifier
        self.overrideWindow = overrideWindow
        self.record = record
    }

    /// What is in force, ending the copies classified and overrides granted under an older
    /// policy: a new policy applies to the next copy and paste.
    private func current() -> SessionPolicy.Snapshot {
        let snapshot = policy.current
        lock.withLock {
            guard snapshot.revision != revision else { return }
            revision = snapshot.revision
            copies = [:]
            overrides = []
        }
        return snapshot
    }

    public func copied(_ content: ClipboardContent) -> Bool {
        let state = current()
        let scan = state.scanner.scan(content)
        lock.withLock {
            generation += 1
            copies[content.selection] = (scan, generation)
            recorded = recorded.filter { $0.selection != content.selection }
        }
        record(EventType.clipboardCopy, ClipboardCopyRecord.data(content, scan: scan, keyedHash: keyedHash, user: user, catalog: state.catalog))
        // Guard when some paste to an AI destination would be warned about or blocked.
        return Self.aiDestinations.contains { destination in
            state.evaluator.evaluate(PolicyRequest(activity: .paste, destination: destination, user: user, content: scan, userRisk: state.userRisk))
                .action >= .warn
        }
    }

    public func pasteRequested(_ request: PasteRequest) -> PasteVerdict {
        let state = current()
        let cached = lock.withLock { copies[request.selection] }
        let scan = cached?.scan ?? state.scanner.scan(request.content)
        let destination = AppResolver(catalog: state.catalog).resolve(pid: request.requestorPID, window: request.window, focus: browserFocus)
        let risk = state.userRisk
        let decision = state.evaluator.evaluate(
            PolicyRequest(
                activity: .paste,
                destination: Destination(appID: destination.app?.id, category: destination.app?.category, sanction: state.sanction(of: destination.app)),
                user: user, content: scan, userRisk: risk))
        var data: [String: JSONValue] = [
            "selection": .string(request.selection.rawValue),
            "target": .string(request.target),
            "findings": ClipboardCopyRecord.findings(scan),
            "identified_by": .string(destination.identifiedBy),
        ]
        if let app = destination.app {
            data["app"] = .string(app.id)
            data["category"] = .string(app.category)
        }
        if let rule = decision.rule { data["rule"] = .string(rule) }
        if risk != .low { data["user_risk"] = .string(risk.rawValue) }
        // Allowed because helpdesk granted an exception: which one.
        if !decision.exceptionsApplied.isEmpty { data["exceptions"] = .array(decision.exceptionsApplied.map(JSONValue.string)) }
        if let pid = request.requestorPID { data["requestor_pid"] = .number(Double(pid)) }
        if let executable = destination.executable { data["requestor_exe"] = .string(executable) }
        if let wmClass = request.window?.wmClass.last { data["window_class"] = .string(wmClass) }
        if let origin = destination.origin { data["origin"] = .string(origin) }
        /// Served to a browser with the extension: its page's paste event needs no second decision.
        func noted(_ verdict: PasteVerdict) -> PasteVerdict {
            if verdict.serve, let origin = destination.origin { servedToBrowsers?.note(request.content.text, origin: origin) }
            return verdict
        }

        if decision.action == .warn, let granted = useOverride(for: request, destination: destination, generation: cached?.generation) {
            guard let granted else { return noted(PasteVerdict(serve: true)) }  // the rest of an overridden paste
            data["incident_id"] = .string(granted.incidentID)
            data["justification"] = .string(granted.justification)
            return noted(answered(serve: true, outcome: "overridden", data: data))
        }
        let refused = decision.action > .audit
        if !refused, request.requestorPID != nil {  // an unidentified reader is recorded every time
            let key = RecordedPaste(pid: request.requestorPID, selection: request.selection, generation: cached?.generation ?? -1)
            guard lock.withLock({ recorded.insert(key).inserted }) else { return noted(PasteVerdict(serve: true)) }
        }
        let repeated = lock.withLock { () -> Bool in
            defer { if refused { lastRefusal = (request.requestorPID, request.selection, .now) } }
            guard refused, let last = lastRefusal else { return false }
            return last.pid == request.requestorPID && last.selection == request.selection && ContinuousClock.now - last.at < .seconds(2)
        }
        if repeated { return PasteVerdict(serve: false) }
        let incidentID = DLPEvent.newIncidentID()
        data["incident_id"] = .string(incidentID)
        if refused, let notifier {
            let notice = DLPNotice(
                kind: decision.action == .block ? .blocked : .warned, incidentID: incidentID, destination: destination.label,
                message: decision.message, types: scan.findings.map(\.type), rule: decision.rule)
            let pending = Override(
                incidentID: incidentID, justification: "", destination: destination.key, selection: request.selection,
                generation: cached?.generation ?? -1, expires: .now)
            notifier.show(notice) { [weak self] response in
                guard notice.kind == .warned, case .override(let justification) = response else { return }
                self?.grant(pending, justification: justification)
            }
        }
        return noted(answered(serve: !refused, outcome: EventType.outcome(of: decision.action), data: data))
    }

    /// The verdict, recording the event once the reply is out (with its latency).
    private func answered(serve: Bool, outcome: String, data: [String: JSONValue]) -> PasteVerdict {
        let record = self.record
        return PasteVerdict(serve: serve) { latency in
            var event = data
            event["latency_ms"] = .number(Double(latency.components.attoseconds) / 1e15 + Double(latency.components.seconds) * 1000)
            record(EventType.paste(outcome), event)
        }
    }

    /// The user chose "Paste anyway" and said why: the next paste of that copy to that
    /// destination goes through.
    private func grant(_ pending: Override, justification: String) {
        var granted = pending
        granted.justification = justification
        granted.expires = .now + overrideWindow
        lock.withLock {
            overrides.removeAll { $0.expires < .now }
            overrides.append(granted)
        }
    }

    /// An unused override for this paste (consumed now), `.some(nil)` when this request is
    /// another format of a paste an override already let through, nil when none applies.
    private func useOverride(for request: PasteRequest, destination: AppResolver.Resolved, generation: Int?) -> Override?? {
        lock.withLock {
            let now = ContinuousClock.now
            guard
                let index = overrides.firstIndex(where: {
                    $0.destination == destination.key && $0.selection == request.selection && $0.generation == (generation ?? -1)
                })
            else { return nil }
            if let used = overrides[index].usedBy {
                return used.pid == request.requestorPID && now < used.until ? .some(nil) : nil
            }
            guard now < overrides[index].expires else { return nil }
            overrides[index].usedBy = (request.requestorPID, now + .seconds(2))
            return .some(overrides[index])
        }
    }
}
