import Foundation

/// What the policy's `browser:` section tells the browser extension (docs/BROWSER.md): whether
/// typed prompts are classified, what the extension does when it cannot reach the session
/// helper, the acceptable-use terms a `monitored` AI site shows first, and how an `unsanctioned`
/// one's block page tells the user to ask for access.
public struct BrowserSettings: Sendable, Equatable, Codable {
    /// What the extension does with a paste, drop or upload in an AI page when no helper answers.
    public enum WithoutHelper: String, Sendable, Equatable, Codable, CaseIterable {
        /// Let it through and show the warning badge (the default: the helper may simply not be
        /// running yet, and the clipboard guard still stands behind the paste).
        case allow
        /// Refuse it until the helper answers again.
        case block
    }

    /// The acceptable-use terms a `monitored` site shows once per `everySeconds` per user.
    public struct Terms: Sendable, Equatable, Codable {
        public var text: String
        public var everySeconds: Double

        public init(text: String, everySeconds: Double = 30 * 86_400) {
            self.text = text
            self.everySeconds = everySeconds
        }

        enum CodingKeys: String, CodingKey {
            case text
            case everySeconds = "every_s"
        }
    }

    /// Classify text typed into AI prompt fields before it is sent (off by default).
    public var typedPrompts: Bool
    public var withoutHelper: WithoutHelper
    /// Shown on `monitored` sites before use; nil uses ``defaultTerms``.
    public var terms: Terms
    /// How to ask for access, on the block page of an `unsanctioned` site.
    public var requestAccess: String?

    public static let defaultTerms = Terms(
        text: "This AI service is monitored by your organisation. Do not enter customer, personal, financial or confidential data, "
            + "source code or credentials. What you paste or upload here is checked against the data protection policy.")

    public init(typedPrompts: Bool = false, withoutHelper: WithoutHelper = .allow, terms: Terms = BrowserSettings.defaultTerms, requestAccess: String? = nil) {
        self.typedPrompts = typedPrompts
        self.withoutHelper = withoutHelper
        self.terms = terms
        self.requestAccess = requestAccess
    }

    enum CodingKeys: String, CodingKey {
        case terms
        case typedPrompts = "typed_prompts"
        case withoutHelper = "without_helper"
        case requestAccess = "request_access"
    }
}
