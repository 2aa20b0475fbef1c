import Foundation

/// What the user is told when a paste (or, later, an upload) is stopped: why, what kinds of
/// data were found (never the data), where it was going, and the incident id helpdesk asks for.
public struct DLPNotice: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// Stopped for good.
        case blocked
        /// Stopped until the user confirms with a justification.
        case warned
    }

    /// What was stopped.
    public enum Subject: Sendable, Equatable, Codable {
        case paste
        /// An AI tool reading this file.
        case fileRead(path: String)
        /// An AI tool's program starting.
        case toolStart(path: String)
        /// A browser uploading this file to an AI site.
        case upload(path: String)
    }

    public var kind: Kind
    public var incidentID: String
    /// The destination as the user knows it (`ChatGPT`, `claude (Claude Code)`).
    public var destination: String
    /// The rule's message to the user.
    public var message: String?
    /// Information type ids found (`credit_card`, ...).
    public var types: [String]
    public var rule: String?
    public var subject: Subject

    public init(kind: Kind, incidentID: String, destination: String, message: String?, types: [String], rule: String?, subject: Subject = .paste) {
        self.kind = kind
        self.incidentID = incidentID
        self.destination = destination
        self.message = message
        self.types = types
        self.rule = rule
        self.subject = subject
    }

    public var summary: String {
        switch (subject, kind) {
        case (.paste, .blocked): "Paste to \(destination) blocked"
        case (.paste, .warned): "Paste to \(destination) needs your confirmation"
        case (.fileRead(let path), _): "\(destination) may not read \((path as NSString).lastPathComponent)"
        case (.toolStart, _): "\(destination) may not start"
        case (.upload(let path), _): "Upload of \((path as NSString).lastPathComponent) to \(destination) blocked"
        }
    }

    /// The notification text: the rule's message, the data types, what to do, the incident id.
    public var body: String {
        var lines: [String] = []
        lines.append(message ?? (kind == .blocked ? "Your organisation's policy does not allow this content to go there." : "This content may be sensitive."))
        switch subject {
        case .paste: break
        case .fileRead(let path): lines.append("File: \(path)")
        case .toolStart(let path): lines.append("Program: \(path)")
        case .upload(let path): lines.append("File: \(path)")
        }
        if !types.isEmpty { lines.append("Found: " + types.map(Self.typeName).joined(separator: ", ") + ".") }
        if kind == .warned { lines.append("To go ahead, choose \"Paste anyway\", give a reason, then paste again.") }
        lines.append("Incident \(incidentID) — quote it to your helpdesk.")
        return lines.joined(separator: "\n")
    }

    /// `credit_card` → `credit card`: readable without a glossary.
    static func typeName(_ id: String) -> String { id.replacingOccurrences(of: "_", with: " ") }
}

/// The user's answer to a warning.
public enum NoticeResponse: Sendable, Equatable {
    /// "Paste anyway", with the reason given.
    case override(justification: String)
    /// "Cancel", or the reason prompt was abandoned.
    case cancelled
    /// Closed or expired without an answer.
    case dismissed
}

/// Shows DLP notices to the user (a seam: the desktop's notification server, or nothing on a
/// headless host).
public protocol UserNotifier: Sendable {
    /// Shows `notice` without blocking the caller. For a warning, `respond` is called once, on
    /// some other thread, with the user's answer; notices a throttle suppresses get no answer.
    func show(_ notice: DLPNotice, respond: @escaping @Sendable (NoticeResponse) -> Void)
}
