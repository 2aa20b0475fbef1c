import BulwarkCore
import Foundation

/// The browser extension's policy side, in the session helper: decides pastes, drops, typed
/// prompts (text) and uploads (files) in AI pages by the exact origin, records `paste.*`,
/// `upload.*` and `browser.navigation` events, keeps the user's acceptance of the monitored
/// sites' terms, and builds the `config` every connected extension gets (docs/BROWSER.md).
/// Content arrives from the extension, is classified here and is never stored or sent on.
public final class BrowserGuard: @unchecked Sendable {
    // Connection threads decide concurrently; warnings, visits and acceptance are behind `lock`.

    public typealias Recorder = ClipboardGuard.Recorder

    /// What the extension asks about.
    public struct Check: Sendable, Decodable {
        public struct File: Sendable, Decodable {
            public var name: String
            public var type: String?
            public var size: Int
            /// Base64 of the file (its first `max_file_bytes` when `truncated`).
            public var data: String
            public var truncated: Bool?
        }

        public var id: Int
        /// `paste`, `drop`, `prompt` or `upload`.
        public var channel: String
        public var origin: String
        public var text: String?
        public var files: [File]?
    }

    /// What happened on a page of an AI site, as the extension reports it (`browser.navigation`'s `outcome`).
    public enum NavigationOutcome: String, Sendable, CaseIterable {
        case visited
        case blocked
        case termsShown = "terms_shown"
        case termsAccepted = "terms_accepted"
    }

    /// The most of each file the extension sends; more is scanned as partial.
    public let maxFileBytes: Int
    /// How long a warning waits for the user's reason.
    public let warningLifetime: Duration = .seconds(600)
    /// What is enforced; shared with the session's clipboard guard.
    public let policy: SessionPolicy
    private let lock = NSLock()
    private let user: String?
    private let record: Recorder
    private let acceptancePath: String?
    private var accepted: [String: Double]
    /// Pastes the clipboard guard already decided and served to the browser.
    private let servedByClipboardGuard: ServedPasteLedger?
    /// Warned decisions waiting for the user's reason, by incident id: the event to repeat as
    /// `*.overridden`.
    private var warnings: [String: (type: String, data: [String: JSONValue], expires: ContinuousClock.Instant)] = [:]
    /// The last `visited` recorded per app, so a tab reloaded all day is one visit an hour.
    private var visits: [String: ContinuousClock.Instant] = [:]

    /// - Parameter acceptancePath: where the user's acceptance of monitored sites' terms is kept
    ///   (JSON, app id → Unix time); nil keeps it in memory.
    public init(
        policy: SessionPolicy, user: String?, acceptancePath: String? = nil, maxFileBytes: Int = 16 * 1024 * 1024,
        servedByClipboardGuard: ServedPasteLedger? = nil, record: @escaping Recorder
    ) {
        self.servedByClipboardGuard = servedByClipboardGuard
        self.policy = policy
        self.user = user
        self.record = record
        self.acceptancePath = acceptancePath
        self.maxFileBytes = maxFileBytes
        accepted = acceptancePath.flatMap { FileManager.default.contents(atPath: $0) }
            .flatMap { try? JSONDecoder().decode([String: Double].self, from: $0) } ?? [:]
    }

    /// The `config` message: the AI sites with their sanction states, the policy's browser
    /// settings and the terms this user accepted.
    public func config() -> [String: JSONValue] {
        let state = policy.current
        let apps: [JSONValue] = state.catalog.apps.filter { !$0.domains.isEmpty }.map { app in
            .object([
                "id": .string(app.id), "name": .string(app.name), "category": .string(app.category),
                "domains": .array(app.domains.map { .string($0.lowercased()) }), "sanction": .string(state.sanction(of: app).rawValue),
            ])
        }
        let settings = state.policy.browser
        var browser: [String: JSONValue] = [
            "typed_prompts": .bool(settings.typedPrompts),
            "without_helper": .string(settings.withoutHelper.rawValue),
            "terms": .object(["text": .string(settings.terms.text), "every_s": .number(settings.terms.everySeconds)]),
        ]
        if let request = settings.requestAccess { browser["request_access"] = .string(request) }
        return [
            "type": .string("config"), "policy": .string(state.policy.name), "apps": .array(apps), "browser": .object(browser),
            "accepted": .object(lock.withLock { accepted }.mapValues(JSONValue.number)), "max_file_bytes": .number(Double(maxFileBytes)),
        ]
    }

    /// Decides one check and records it; the answer is the extension's `verdict`.
    public func decide(_ check: Check, browser: String) -> [String: JSONValue] {
        let started = ContinuousClock.now
        // The clipboard guard decided this very paste for this site moments ago (and recorded it).
        if check.channel == "paste", check.files?.isEmpty ?? true, let text = check.text, servedByClipboardGuard?.take(text, origin: check.origin) == true {
            return ["type": .string("verdict"), "id": .number(Double(check.id)), "action": .string(PolicyAction.allow.rawValue), "decided_by": .string("clipboard_guard")]
        }
        let state = policy.current
        let scanner = state.scanner
        let risk = state.userRisk
        let app = BrowserFocus.host(of: check.origin).flatMap(state.catalog.app(host:))
        let destination = Destination(appID: app?.id, category: app?.category, sanction: state.sanction(of: app))
        func evaluate(_ activity: Activity, _ scan: ScanResult) -> PolicyDecision {
            state.evaluator.evaluate(PolicyRequest(activity: activity, destination: destination, user: user, content: scan, userRisk: risk))
        }

        var data: [String: JSONValue] = ["origin": .string(check.origin), "browser": .string(browser), "channel": .string(check.channel)]
        if let app {
            data["app"] = .string(app.id)
            data["category"] = .string(app.category)
        }
        if risk != .low { data["user_risk"] = .string(risk.rawValue) }
        let decision: PolicyDecision
        let scan: ScanResult
        let type: (String) -> String
        if let files = check.files, !files.isEmpty {
            let upload = decide(files, scanner: scanner, evaluate: evaluate)
            (decision, scan) = (upload.decision, upload.scan)
            data["files"] = .array(upload.files)
            if scan.partial { data["partial"] = .bool(true) }
            type = EventType.upload
        } else {
            scan = scanner.scan(Data((check.text ?? "").utf8))
            decision = evaluate(.paste, scan)
            data["selection"] = .string("browser")
            data["target"] = .string(check.channel)
            data["identified_by"] = .string("browser_extension")
            type = EventType.paste
        }
        data["findings"] = ClipboardCopyRecord.findings(scan)
        if let rule = decision.rule { data["rule"] = .string(rule) }
        if !decision.exceptionsApplied.isEmpty { data["exceptions"] = .array(decision.exceptionsApplied.map(JSONValue.string)) }

        var verdict: [String: JSONValue] = ["type": .string("verdict"), "id": .number(Double(check.id)), "action": .string(decision.action.rawValue)]
        // Content with nothing found and nothing decided is nobody's business.
        guard decision.action != .allow || !scan.findings.isEmpty || scan.partial else { return verdict }
        let incidentID = DLPEvent.newIncidentID()
        data["incident_id"] = .string(incidentID)
        let elapsed = ContinuousClock.now - started
        data["latency_ms"] = .number(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        record(type(EventType.outcome(of: decision.action)), data)
        if decision.action == .warn {
            lock.withLock {
                let now = ContinuousClock.now
                warnings = warnings.filter { $0.value.expires > now }
                warnings[incidentID] = (type(EventType.outcome(of: .warn)), data, now + warningLifetime)
            }
        }
        verdict["incident_id"] = .string(incidentID)
        verdict["types"] = .array(scan.findings.map { .string($0.type) })
        if let message = decision.message { verdict["message"] = .string(message) }
        if let rule = decision.rule { verdict["rule"] = .string(rule) }
        return verdict
    }

    /// Every file of an upload classified and decided; the strictest decision is the upload's
    /// (its file's scan goes with it). `files` describes each: name, size, findings, partial.
    private func decide(
        _ files: [Check.File], scanner: ContentScanner, evaluate: (Activity, ScanResult) -> PolicyDecision
    ) -> (decision: PolicyDecision, scan: ScanResult, files: [JSONValue]) {
        var strictest: (decision: PolicyDecision, scan: ScanResult)?
        var described: [JSONValue] = []
        for file in files {
            var result = scanner.scan(Data(base64Encoded: file.data) ?? Data(), hint: .fileName(file.name))
            if file.truncated == true || file.size > maxFileBytes {
                result.partial = true
                result.partialReason = result.partialReason ?? "the browser sent the first \(maxFileBytes) of \(file.size) bytes"
            }
            let decision = evaluate(.fileUpload, result)
            described.append(.object([
                "name": .string(file.name), "bytes": .number(Double(file.size)), "findings": ClipboardCopyRecord.findings(result),
                "partial": .bool(result.partial),
            ]))
            if let current = strictest, decision.action <= current.decision.action { continue }
            strictest = (decision, result)
        }
        let empty = ScanResult(findings: [])
        let chosen = strictest ?? (evaluate(.fileUpload, empty), empty)
        return (chosen.decision, chosen.scan, described)
    }

    /// The user went ahead after a warning, saying why: recorded as `*.overridden` with the
    /// warning's incident id. False for an incident that was not warned here (or expired).
    @discardableResult
    public func override(incidentID: String, justification: String) -> Bool {
        guard let warning = lock.withLock({ warnings.removeValue(forKey: incidentID) }), warning.expires > .now else { return false }
        var data = warning.data
        data["justification"] = .string(String(justification.prefix(1000)))
        record(warning.type.replacingOccurrences(of: ".warned", with: ".overridden"), data)
        return true
    }

    /// A page of an AI site was visited, blocked, or its terms shown or accepted. Returns true
    /// when the extensions need a new `config` (terms accepted).
    @discardableResult
    public func navigation(origin: String, outcome: NavigationOutcome, browser: String) -> Bool {
        let state = policy.current
        guard let app = BrowserFocus.host(of: origin).flatMap(state.catalog.app(host:)) else { return false }
        if outcome == .visited {
            let fresh = lock.withLock { () -> Bool in
                if let last = visits[app.id], ContinuousClock.now - last < .seconds(3600) { return false }
                visits[app.id] = .now
                return true
            }
            guard fresh else { return false }
        }
        record(EventType.browserNavigation, [
            "origin": .string(origin), "outcome": .string(outcome.rawValue), "app": .string(app.id), "category": .string(app.category),
            "sanction": .string(state.sanction(of: app).rawValue), "browser": .string(browser), "evidence": .string("browser_extension"),
        ])
        guard outcome == .termsAccepted else { return false }
        let snapshot = lock.withLock { () -> [String: Double] in
            accepted[app.id] = Date().timeIntervalSince1970
            return accepted
        }
        if let acceptancePath, let encoded = try? JSONEncoder().encode(snapshot) {
            try? FileManager.default.createDirectory(atPath: (acceptancePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? SecureFile.write(encoded, to: acceptancePath, mode: .secret)
        }
        return true
    }
}
