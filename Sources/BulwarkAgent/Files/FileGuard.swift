import BulwarkCore
import Foundation
import Logging
import Synchronization

/// The file guard's decisions (docs/FILES.md): which opens concern an AI tool, what the file
/// holds (from the verdict cache, else a scan within a time budget), and what the policy says
/// for `file_read_by_ai_tool` and `ai_tool_exec`. ``FileGuardService`` feeds it fanotify events
/// and answers the kernel with what it returns.
public final class FileGuard: @unchecked Sendable {
    // `policy`, `classifier`, `appStates`, `userRisk`, `audited` and `learning` are behind `lock`; `openers`
    // has its own (the reader thread and the notification thread both ask who opened a file).

    public struct Settings: Sendable {
        /// Only files under these are judged (marks cover whole mounts).
        public var roots: [String]
        /// How long an open may wait for a file to be scanned.
        public var budget: Duration
        /// What a scan that misses the budget (or an overloaded guard) answers: allow (audited
        /// as such) or deny.
        public var failOpen: Bool
        /// An allowed read of one file by one AI process is recorded once per window.
        public var auditWindow: Duration
        public var maxScanBytes: Int
        public var credentialPaths: CredentialPaths

        public init(
            roots: [String], budget: Duration = .milliseconds(50), failOpen: Bool = true, auditWindow: Duration = .seconds(600),
            maxScanBytes: Int = 8 * 1024 * 1024, credentialPaths: CredentialPaths = CredentialPaths()
        ) {
            self.roots = roots.map { $0.count > 1 && $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            self.budget = budget
            self.failOpen = failOpen
            self.auditWindow = auditWindow
            self.maxScanBytes = maxScanBytes
            self.credentialPaths = credentialPaths
        }
    }

    /// What the reader thread makes of an event before any real work.
    enum Triage {
        /// Not the guard's business: answer allow at once.
        case allow
        /// An ordinary program opens a guarded file: allowed at once; once the file is known to
        /// be harmless its opens stop asking the agent at all.
        case ordinary(path: String)
        /// An AI tool's executable is being started.
        case exec(app: AIApp, path: String)
        /// An AI tool (or a child of one) opens a file.
        case read(app: AIApp, path: String, exe: String?)
        /// A browser opens a file while an AI app has the focus in its user's session: an upload.
        case upload(app: AIApp, path: String, exe: String?)
    }

    public typealias Recorder = @Sendable (_ type: String, _ data: [String: JSONValue]) -> Void
    /// Tells the user whose process was stopped (their session helper, else the journal).
    public typealias Notifier = @Sendable (_ uid: uid_t, _ notice: DLPNotice) -> Void

    let settings: Settings
    let catalog: CatalogSource
    let cache = VerdictCache()
    /// Fork/exec/exit history, for openers that exited before their notification was read.
    let processes = ProcessTable()
    let record: Recorder
    let notify: Notifier
    /// The AI app focused in a session of that user (from the session helpers), if any.
    let focusedApp: @Sendable (uid_t) -> String?
    private let lock = NSLock()
    /// The installed policy with the granted exceptions added (what decisions use).
    private var policy: Policy
    private var installed: Policy
    private var exceptions: [GrantedException] = []
    private var classifier: ContentClassifier
    private var appStates: [String: SanctionState]
    private var userRisk: [String: UserRisk] = [:]
    private var audited: [String: ContinuousClock.Instant] = [:]
    /// Background scans of files ordinary programs opened.
    private var learning = 0
    private let openers = Mutex<[pid_t: (exe: String, app: AIApp?, at: ContinuousClock.Instant)]>([:])
    private let scans = DispatchQueue(label: "bulwark-file-scan", attributes: .concurrent)
    private let selfPID = getpid()

    public init(
        settings: Settings, policy: Policy, classifier: ContentClassifier, appStates: [String: SanctionState], catalog: CatalogSource,
        record: @escaping Recorder, notify: @escaping Notifier, focusedApp: @escaping @Sendable (uid_t) -> String? = { _ in nil }
    ) {
        self.focusedApp = focusedApp
        self.settings = settings
        self.policy = policy
        installed = policy
        self.classifier = classifier
        self.appStates = appStates
        self.catalog = catalog
        self.record = record
        self.notify = notify
    }

    public func update(policy: Policy, classifier: ContentClassifier) {
        lock.withLock {
            installed = policy
            self.policy = policy.granting(exceptions)
            self.classifier = classifier
        }
    }

    /// Exceptions helpdesk granted (from the collector's policy bundle); each stops applying at
    /// its `until` by itself.
    public func update(exceptions: [GrantedException]) {
        lock.withLock {
            self.exceptions = exceptions
            policy = installed.granting(exceptions)
        }
    }

    public func update(appStates: [String: SanctionState]) {
        lock.withLock { self.appStates = appStates }
    }

    /// Users' risk levels above low (from the collector).
    public func update(userRisk: [String: UserRisk]) {
        lock.withLock { self.userRisk = userRisk }
    }

    /// The user a process runs as, with their risk level.
    func who(_ pid: pid_t) -> (user: String?, risk: UserRisk) {
        let user = Self.user(of: pid)
        return (user, user.flatMap { name in lock.withLock { userRisk[name] } } ?? .low)
    }

    // MARK: Reader thread

    func triage(_ event: FanotifyChannel.Event) -> Triage {
        guard event.pid != selfPID, event.needsResponse, let path = Self.path(of: event.descriptor), isGuarded(path) else { return .allow }
        if event.isExecPermission {
            // The file being started, not /proc/PID/exe (still the program calling execve).
            processes.starting(event.pid, executable: path)
            guard let app = catalog.current.app(executable: path) else { return .allow }
            return .exec(app: app, path: path)
        }
        guard let (exe, app) = opener(event.pid) else { return .allow }
        if let app { return .read(app: app, path: path, exe: exe) }
        if AIAppCatalog.isBrowser(executable: exe), let uid = Self.uid(of: event.pid), let focused = focusedApp(uid).flatMap(catalog.current.app(id:)) {
            return .upload(app: focused, path: path, exe: exe)
        }
        return .ordinary(path: path)
    }

    func isGuarded(_ path: String) -> Bool {
        settings.roots.contains { $0 == "/" || path == $0 || path.hasPrefix($0 + "/") }
    }

    static func path(of descriptor: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/fd/\(descriptor)", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return buffer.prefix(length).withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
    }

    /// The opening process's program and the AI app it is or runs under (its own program or
    /// script, else up to four ancestors: Claude Code's `rg` and `cat` read for it), cached
    /// for two seconds per process and program.
    private func opener(_ pid: pid_t) -> (exe: String, app: AIApp?)? {
        guard let exe = ProcessLineage.executablePath(of: pid) else { return remembered(pid) }
        let now = ContinuousClock.now
        if let cached = openers.withLock({ $0[pid] }), cached.exe == exe, now - cached.at < .seconds(2) { return (exe, cached.app) }
        let matcher = AIProgramMatcher(catalog: catalog.current)
        let app = matcher.identify(pid: pid)?.app ?? ProcessLineage.ancestors(of: pid).lazy.compactMap { matcher.identify(pid: $0)?.app }.first
        openers.withLock { openers in
            if openers.count > 4096 { openers.removeAll(keepingCapacity: true) }
            openers[pid] = (exe, app, now)
        }
        return (exe, app)
    }

    /// Whether `pid` itself runs an AI tool (its parents not considered).
    func isAITool(_ pid: pid_t) -> Bool {
        pid != selfPID && AIProgramMatcher(catalog: catalog.current).identify(pid: pid) != nil
    }

    /// Whether any running process is an AI tool (one pass over `/proc`).
    func anyAIToolRunning() -> Bool {
        let matcher = AIProgramMatcher(catalog: catalog.current)
        return ProcessLineage.runningPIDs().contains { $0 != selfPID && matcher.identify(pid: $0) != nil }
    }

    /// A process already gone from `/proc`, as the process table remembers it and its parents.
    func remembered(_ pid: pid_t) -> (exe: String, app: AIApp?)? {
        let chain = processes.lineage(of: pid)
        guard let first = chain.first else { return nil }
        let catalog = catalog.current
        return (first.executable, chain.lazy.compactMap { catalog.app(executable: $0.executable) }.first)
    }

    // MARK: Decisions

    /// An AI tool's executable is starting: the policy's `ai_tool_exec` rules decide with the
    /// app's sanction state. True to allow.
    func decideExec(app: AIApp, path: String, pid: pid_t) -> Bool {
        let (policy, states): (Policy, [String: SanctionState]) = lock.withLock { (self.policy, self.appStates) }
        let destination = Destination(appID: app.id, category: app.category, sanction: states[app.id] ?? .unreviewed)
        let (user, risk) = who(pid)
        let request = PolicyRequest(activity: .aiToolExec, destination: destination, user: user, content: ScanResult(findings: []), userRisk: risk)
        let decision = PolicyEvaluator(policy: policy).evaluate(request)
        guard decision.action == .block || decision.action == .audit else { return true }
        let blocked = decision.action == .block
        let incidentID = DLPEvent.newIncidentID()
        var data = Self.data(incidentID: incidentID, request: request, decision: decision, path: path, pid: pid, exe: ProcessLineage.executablePath(of: pid))
        data["evidence"] = "exec"
        record(EventType.file(blocked ? "blocked" : "audited"), data)
        if blocked, let uid = Self.uid(of: pid) {
            notify(
                uid,
                DLPNotice(
                    kind: .blocked, incidentID: incidentID, destination: app.name, message: decision.message, types: [], rule: decision.rule,
                    subject: .toolStart(path: path)))
        }
        return !blocked
    }

    /// What a read decision says: allow it, and if the file is harmless, the state it is
    /// harmless in (its opens need not be asked about again until it changes).
    struct ReadVerdict {
        var allow: Bool
        var harmless: VerdictCache.Key?
    }

    /// An AI tool opens a file, or a browser while an AI app has the focus (`file_upload`;
    /// worker thread; may wait up to the budget for a scan). A `warn` cannot ask the user while
    /// the browser waits, so for uploads it stops the upload like a block, saying so.
    func decideRead(app: AIApp, path: String, exe: String?, event: FanotifyChannel.Event, activity: Activity = .fileReadByAITool) -> ReadVerdict {
        let started = ContinuousClock.now
        let (policy, classifier, states): (Policy, ContentClassifier, [String: SanctionState]) = lock.withLock {
            (self.policy, self.classifier, self.appStates)
        }
        guard let key = VerdictCache.key(descriptor: event.descriptor) else { return ReadVerdict(allow: true, harmless: nil) }
        var verdictSource = "cache"
        var content: ScanResult
        var stable = true
        if let cached = cache.verdict(key) {
            content = cached
        } else if key.size <= Self.inlineScanBytes {
            // Small (most files): scanned right here, in a few milliseconds. Handing it to another
            // thread and waiting would let a busy host's background scans hold it past the budget.
            (content, stable) = scanAndCache(event.descriptor, name: path, key: key, classifier: classifier)
            verdictSource = "scan"
        } else if let scanned = scan(event.descriptor, name: path, key: key, classifier: classifier) {
            (content, stable) = (scanned.result, scanned.stable)
            verdictSource = "scan"
        } else {
            // The scan missed the budget: it goes on and fills the cache for the next open.
            return ReadVerdict(allow: failMode(app: app, path: path, exe: exe, event: event, states: states, policy: policy, started: started), harmless: nil)
        }
        let harmless = stable && isHarmless(content, path: path) ? key : nil
        if let pattern = settings.credentialPaths.match(path) {
            content.findings.append(Finding(type: "credential_file", count: 1, confidence: ContentClassifier.Confidence.high, matches: [
                FindingMatch(start: 0, end: 0, confidence: ContentClassifier.Confidence.high, masked: pattern, hash: nil),
            ]))
        }
        let destination = Destination(appID: app.id, category: app.category, sanction: states[app.id] ?? .unreviewed)
        let (user, risk) = who(event.pid)
        var request = PolicyRequest(activity: activity, destination: destination, user: user, content: content, userRisk: risk)
        var decision = PolicyEvaluator(policy: policy).evaluate(request)
        // An upload cannot wait for the user to answer a warning: it is stopped like a block.
        func stops(_ decision: PolicyDecision) -> Bool { decision.action == .block || (activity == .fileUpload && decision.action == .warn) }
        var blocked = stops(decision)
        // A stopped read names the file by its hash (helpdesk can except that one file), and an
        // exception for one file is matched by it.
        var fileHash: String?
        if blocked, key.size <= Int64(settings.maxScanBytes) {
            fileHash = FileDigest.sha256(descriptor: event.descriptor)
            if let fileHash, policy.hasFileExceptions {
                request.fileSHA256 = fileHash
                decision = PolicyEvaluator(policy: policy).evaluate(request)
                blocked = stops(decision)
            }
        }
        guard blocked || firstAudit(pid: event.pid, path: path) else { return ReadVerdict(allow: true, harmless: harmless) }
        let incidentID = DLPEvent.newIncidentID()
        var data = Self.data(incidentID: incidentID, request: request, decision: decision, path: path, pid: event.pid, exe: exe)
        if let fileHash { data["file_sha256"] = .string(fileHash) }
        data["evidence"] = activity == .fileUpload ? "upload" : "file_open"
        data["verdict"] = .string(verdictSource)
        data["latency_ms"] = .number(Self.milliseconds(ContinuousClock.now - started))
        record(EventType.file(blocked ? "blocked" : "audited"), data)
        if blocked, let uid = Self.uid(of: event.pid) {
            let notice = DLPNotice(
                kind: .blocked, incidentID: incidentID, destination: app.name, message: decision.message, types: content.findings.map(\.type),
                rule: decision.rule, subject: activity == .fileUpload ? .upload(path: path) : .fileRead(path: path))
            notify(uid, notice)
        }
        return ReadVerdict(allow: !blocked, harmless: blocked ? nil : harmless)
    }

    /// Files up to this size are scanned by the worker deciding the open, without a budget
    /// (about 3 ms at the classifier's speed); larger ones get `budget` and the fail mode.
    static let inlineScanBytes: Int64 = 1 << 20

    /// Claims one of the 32 background scans; false when all are busy (a busy host: the file is
    /// scanned when an AI tool opens it, or at a later write).
    private func startLearning() -> Bool {
        lock.withLock {
            guard learning < 32 else { return false }
            learning += 1
            return true
        }
    }

    /// An open nobody waits on (a file known harmless, so its permission events are ignored):
    /// an AI tool's read is still recorded, once per process and file per window.
    func auditOpen(_ event: FanotifyChannel.Event) {
        guard event.pid != selfPID, let path = Self.path(of: event.descriptor), isGuarded(path) else { return }
        let content = VerdictCache.key(descriptor: event.descriptor).flatMap(cache.verdict) ?? ScanResult(findings: [])
        if let (exe, app) = opener(event.pid) {
            if let app { audit(app: app, exe: exe, pid: event.pid, path: path, content: content) }
            return
        }
        // Gone already, and the process events naming it not read yet: look again shortly.
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in
            if let (exe, app) = remembered(event.pid), let app { audit(app: app, exe: exe, pid: event.pid, path: path, content: content) }
        }
    }

    private func audit(app: AIApp, exe: String, pid: pid_t, path: String, content: ScanResult) {
        guard firstAudit(pid: pid, path: path) else { return }
        let (policy, states): (Policy, [String: SanctionState]) = lock.withLock { (self.policy, self.appStates) }
        let destination = Destination(appID: app.id, category: app.category, sanction: states[app.id] ?? .unreviewed)
        let (user, risk) = who(pid)
        let request = PolicyRequest(activity: .fileReadByAITool, destination: destination, user: user, content: content, userRisk: risk)
        let decision = PolicyEvaluator(policy: policy).evaluate(request)
        var data = Self.data(incidentID: DLPEvent.newIncidentID(), request: request, decision: decision, path: path, pid: pid, exe: exe)
        data["evidence"] = "file_open"
        data["verdict"] = "known_harmless"
        record(EventType.file("audited"), data)
    }

    /// Nothing found, no label, fully scanned, not a credential file by its path.
    func isHarmless(_ result: ScanResult, path: String) -> Bool {
        result.findings.isEmpty && result.labels.isEmpty && !result.partial && settings.credentialPaths.match(path) == nil
    }

    /// Told when a background scan ends: the descriptor (to close) and, if the file is harmless,
    /// the state it is harmless in.
    typealias Learned = @Sendable (_ descriptor: Int32, _ harmless: VerdictCache.Key?) -> Void

    /// An ordinary program's open of a guarded file (reader thread): the state the file is known
    /// harmless in (an ignore mark is safe while it lasts), or nil; if its verdict is unknown, a
    /// background scan is started on a copy of `descriptor`, which `learned` receives and must
    /// close.
    func knownHarmless(_ descriptor: Int32, path: String, learned: @escaping Learned) -> VerdictCache.Key? {
        guard let key = VerdictCache.key(descriptor: descriptor), key.size <= Int64(settings.maxScanBytes) else { return nil }
        if let verdict = cache.verdict(key) { return isHarmless(verdict, path: path) ? key : nil }
        guard startLearning() else { return nil }
        let copy = dup(descriptor)
        guard copy >= 0 else {
            lock.withLock { learning -= 1 }
            return nil
        }
        learn(copy, path: path, key: key, learned: learned)
        return nil
    }

    /// A file was written and closed: scanned in the background so the next open by an AI tool
    /// finds its verdict cached; `learned` gets the descriptor (to close) and whether it is
    /// harmless. Takes the descriptor.
    func rescan(_ event: FanotifyChannel.Event, learned: @escaping Learned) {
        guard event.pid != selfPID, let path = Self.path(of: event.descriptor), isGuarded(path), let key = VerdictCache.key(descriptor: event.descriptor),
            key.size <= Int64(settings.maxScanBytes), startLearning()
        else {
            close(event.descriptor)
            return
        }
        learn(event.descriptor, path: path, key: key, learned: learned)
    }

    /// The background scan behind ``knownHarmless(_:path:learned:)`` and ``rescan(_:learned:)``,
    /// holding one of the slots ``startLearning()`` claimed.
    private func learn(
        _ descriptor: Int32, path: String, key: VerdictCache.Key, learned: @escaping Learned
    ) {
        let classifier = lock.withLock { self.classifier }
        scans.async { [self] in
            let scanned = scanAndCache(descriptor, name: path, key: key, classifier: classifier)
            lock.withLock { learning -= 1 }
            learned(descriptor, scanned.stable && isHarmless(scanned.result, path: path) ? key : nil)
        }
    }

    /// Reads the file through `descriptor` and classifies it (scan queue); the verdict is
    /// cached only when the file is still in the state `key` describes afterwards (`stable`): a
    /// file being written while it is read (just created, still open for writing) must not be
    /// remembered as harmless for content it no longer has. An unreadable file counts as
    /// partially scanned, never as harmless.
    private func scanAndCache(_ descriptor: Int32, name: String, key: VerdictCache.Key, classifier: ContentClassifier) -> (result: ScanResult, stable: Bool) {
        let result = (try? Self.scanner(classifier, maxBytes: settings.maxScanBytes).scan(descriptor: descriptor, name: name))
            ?? ScanResult(findings: [], partial: true, partialReason: "unreadable")
        let stable = VerdictCache.key(descriptor: descriptor) == key
        if stable { cache.store(result, for: key) }
        return (result, stable)
    }

    /// Scans within the budget; nil when it takes longer (the scan finishes on its own copy of
    /// the descriptor and caches its verdict).
    private func scan(_ descriptor: Int32, name: String, key: VerdictCache.Key, classifier: ContentClassifier) -> (result: ScanResult, stable: Bool)? {
        let copy = dup(descriptor)
        guard copy >= 0 else { return nil }
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        scans.async { [self] in
            defer { close(copy) }
            box.set(scanAndCache(copy, name: name, key: key, classifier: classifier))
            done.signal()
        }
        let nanoseconds = Int(settings.budget.components.seconds) * 1_000_000_000 + Int(settings.budget.components.attoseconds / 1_000_000_000)
        return done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success ? box.get() : nil
    }

    static func scanner(_ classifier: ContentClassifier, maxBytes: Int) -> ContentScanner {
        var extractor = ContentExtractor()
        extractor.limits.maxInputBytes = maxBytes
        return ContentScanner(classifier: classifier, extractor: extractor)
    }

    /// No verdict in time: the configured fail mode, recorded so nobody mistakes it for a check.
    private func failMode(
        app: AIApp, path: String, exe: String?, event: FanotifyChannel.Event, states: [String: SanctionState], policy: Policy, started: ContinuousClock.Instant
    ) -> Bool {
        let destination = Destination(appID: app.id, category: app.category, sanction: states[app.id] ?? .unreviewed)
        let (user, risk) = who(event.pid)
        let request = PolicyRequest(activity: .fileReadByAITool, destination: destination, user: user, content: ScanResult(findings: []), userRisk: risk)
        let decision = PolicyDecision(
            action: settings.failOpen ? .audit : .block, rule: nil, message: "The file could not be checked in time.", helpdesk: nil, overridable: false,
            matched: [])
        var data = Self.data(incidentID: DLPEvent.newIncidentID(), request: request, decision: decision, path: path, pid: event.pid, exe: exe)
        data["evidence"] = "file_open"
        data["verdict"] = .string(settings.failOpen ? "timeout_fail_open" : "timeout_fail_closed")
        data["latency_ms"] = .number(Self.milliseconds(ContinuousClock.now - started))
        record(EventType.file(settings.failOpen ? "audited" : "blocked"), data)
        return settings.failOpen
    }

    /// True the first time in the audit window that `pid` reads `path`.
    private func firstAudit(pid: pid_t, path: String) -> Bool {
        let key = "\(pid):\(path)"
        let now = ContinuousClock.now
        return lock.withLock {
            if let last = audited[key], now - last < settings.auditWindow { return false }
            if audited.count > 20_000 { audited = audited.filter { now - $0.value < settings.auditWindow } }
            audited[key] = now
            return true
        }
    }

    static func data(
        incidentID: String, request: PolicyRequest, decision: PolicyDecision, path: String, pid: pid_t, exe: String?
    ) -> [String: JSONValue] {
        let full = DLPEvent.data(incidentID: incidentID, policy: "", request: request, decision: decision)
        var data: [String: JSONValue] = [
            "incident_id": .string(incidentID), "activity": .string(request.activity.rawValue), "path": .string(path),
            "pid": .number(Double(pid)), "findings": full["findings"] ?? .array([]), "labels": full["labels"] ?? .array([]),
            "partial": .bool(request.content.partial), "sanction": .string(request.destination.sanction.rawValue),
        ]
        for key in ["app", "category", "rule", "user", "user_risk"] { if let value = full[key] { data[key] = value } }
        // Allowed because helpdesk granted an exception: which one, so the audit trail shows it.
        if !decision.exceptionsApplied.isEmpty { data["exceptions"] = .array(decision.exceptionsApplied.map(JSONValue.string)) }
        if let exe { data["exe"] = .string(exe) }
        if let uid = uid(of: pid) { data["uid"] = .number(Double(uid)) }
        return data
    }

    static func uid(of pid: pid_t) -> uid_t? { AIProgramMatcher.uid(of: pid) }

    static func user(of pid: pid_t) -> String? { uid(of: pid).flatMap(SessionServer.userName) }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    /// A scan's result handed from the scan queue to the waiting worker.
    private final class ResultBox: @unchecked Sendable {
        // `value` is behind `lock`.
        private let lock = NSLock()
        private var value: (result: ScanResult, stable: Bool)?
        func set(_ scanned: (result: ScanResult, stable: Bool)) { lock.withLock { value = scanned } }
        func get() -> (result: ScanResult, stable: Bool)? { lock.withLock { value } }
    }
}
