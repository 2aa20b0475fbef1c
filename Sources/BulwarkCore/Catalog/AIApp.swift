import Foundation

/// An AI app Bulwark knows: the identity that policy destinations and the inventory use, the
/// evidence the sensors recognise it by, and the facts its risk score is computed from.
public struct AIApp: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var vendor: String
    /// One of ``AIAppCatalog/categories``.
    public var category: String
    /// Web hosts of the app; a host matches its subdomains too (`openai.azure.com` matches
    /// `myresource.openai.azure.com`).
    public var domains: [String]
    /// Executable names (basename of /proc/PID/exe) of the app's desktop or command-line programs.
    public var executables: [String]
    /// Substrings of an interpreter's command line (script path made absolute with the
    /// process's working directory) that identify the app: `vllm.entrypoints`, `ComfyUI/main.py`.
    public var commandLines: [String]
    /// Words a browser window title shows for the app's site (`ChatGPT`), matched against the
    /// title's segments when the pasting program is a browser.
    public var titles: [String]
    /// TCP ports the app's local server listens on by default (`ollama`: 11434).
    public var ports: [Int]
    /// An HTTP path that confirms the app on one of its ports (`/api/tags` for Ollama, which also
    /// lists its models; `/v1/models` for OpenAI-compatible servers).
    public var probe: String?
    /// Configuration and data directories, `~` meaning each user's home.
    public var configDirs: [String]
    /// Where the app keeps model files, `~` meaning each user's home.
    public var modelDirs: [String]
    /// Chrome Web Store ids of the app's browser extension.
    public var extensionIDs: [String]
    /// The facts the risk score is computed from; each carries its source.
    public var risk: AppRiskProfile

    public init(
        id: String, name: String, vendor: String, category: String, domains: [String] = [], executables: [String] = [],
        commandLines: [String] = [], titles: [String] = [], ports: [Int] = [], probe: String? = nil, configDirs: [String] = [],
        modelDirs: [String] = [], extensionIDs: [String] = [], risk: AppRiskProfile = AppRiskProfile()
    ) {
        self.id = id
        self.name = name
        self.vendor = vendor
        self.category = category
        self.domains = domains
        self.executables = executables
        self.commandLines = commandLines
        self.titles = titles
        self.ports = ports
        self.probe = probe
        self.configDirs = configDirs
        self.modelDirs = modelDirs
        self.extensionIDs = extensionIDs
        self.risk = risk
    }

    /// 0–10 from ``RiskScore``.
    public var riskScore: Double { RiskScore(self).value }

    enum CodingKeys: String, CodingKey {
        case id, name, vendor, category, domains, executables, titles, ports, probe, risk
        case commandLines = "command_lines", configDirs = "config_dirs", modelDirs = "model_dirs", extensionIDs = "extension_ids"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        vendor = try c.decodeIfPresent(String.self, forKey: .vendor) ?? ""
        category = try c.decode(String.self, forKey: .category)
        domains = try c.decodeIfPresent([String].self, forKey: .domains) ?? []
        executables = try c.decodeIfPresent([String].self, forKey: .executables) ?? []
        commandLines = try c.decodeIfPresent([String].self, forKey: .commandLines) ?? []
        titles = try c.decodeIfPresent([String].self, forKey: .titles) ?? []
        ports = try c.decodeIfPresent([Int].self, forKey: .ports) ?? []
        probe = try c.decodeIfPresent(String.self, forKey: .probe)
        configDirs = try c.decodeIfPresent([String].self, forKey: .configDirs) ?? []
        modelDirs = try c.decodeIfPresent([String].self, forKey: .modelDirs) ?? []
        extensionIDs = try c.decodeIfPresent([String].self, forKey: .extensionIDs) ?? []
        risk = try c.decodeIfPresent(AppRiskProfile.self, forKey: .risk) ?? AppRiskProfile()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(vendor, forKey: .vendor)
        try c.encode(category, forKey: .category)
        if !domains.isEmpty { try c.encode(domains, forKey: .domains) }
        if !executables.isEmpty { try c.encode(executables, forKey: .executables) }
        if !commandLines.isEmpty { try c.encode(commandLines, forKey: .commandLines) }
        if !titles.isEmpty { try c.encode(titles, forKey: .titles) }
        if !ports.isEmpty { try c.encode(ports, forKey: .ports) }
        try c.encodeIfPresent(probe, forKey: .probe)
        if !configDirs.isEmpty { try c.encode(configDirs, forKey: .configDirs) }
        if !modelDirs.isEmpty { try c.encode(modelDirs, forKey: .modelDirs) }
        if !extensionIDs.isEmpty { try c.encode(extensionIDs, forKey: .extensionIDs) }
        if risk != AppRiskProfile() { try c.encode(risk, forKey: .risk) }
    }
}

/// A published fact about an app and where it comes from.
public struct RiskFact<Value: Sendable & Codable & Equatable>: Sendable, Codable, Equatable {
    public var value: Value
    /// The vendor document (and when) the fact is taken from.
    public var source: String

    public init(_ value: Value, source: String) {
        self.value = value
        self.source = source
    }
}

/// What is known about how an app treats the data given to it. A missing fact is unknown, and
/// ``RiskScore`` scores unknown between the good and the bad answer.
public struct AppRiskProfile: Sendable, Codable, Equatable {
    /// How long the vendor keeps what users send.
    public enum Retention: String, Sendable, Codable, CaseIterable {
        /// Not stored after the response.
        case none
        /// Stays on the user's device.
        case device
        /// Kept a short fixed period (≤ 30 days, e.g. abuse monitoring).
        case limited
        /// Kept a longer fixed period (months or years).
        case period
        /// Kept until the user deletes it.
        case untilDeleted = "until_deleted"
    }

    /// Whether the default consumer offering trains the vendor's models on what users send.
    public var trainsOnUserData: RiskFact<Bool>?
    public var retention: RiskFact<Retention>?
    /// A business tier with contractual data protection exists.
    public var enterpriseTier: RiskFact<Bool>?
    public var sso: RiskFact<Bool>?
    /// Where the data is processed: an ISO country code, `EU`, or `device`.
    public var dataRegion: RiskFact<String>?
    /// Certifications and audit reports the vendor claims (`SOC 2 Type 2`, `ISO 27001`).
    public var compliance: RiskFact<[String]>?
    /// The models' weights are openly available.
    public var openWeights: RiskFact<Bool>?
    /// The app runs on the device; no vendor service sees the data.
    public var local: RiskFact<Bool>?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case retention, sso, compliance, local
        case trainsOnUserData = "trains_on_user_data", enterpriseTier = "enterprise_tier", dataRegion = "data_region", openWeights = "open_weights"
    }
}
