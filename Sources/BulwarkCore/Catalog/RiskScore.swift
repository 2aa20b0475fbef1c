/// An app's risk, 0 (no concern) to 10, from its category and the facts in its
/// ``AppRiskProfile``. The formula (docs/CATALOG.md) adds points per factor; an unknown fact
/// scores between the good and the bad answer, so an app nobody has assessed ranks above a
/// well-governed one but below one known to be bad.
///
/// | factor | good | unknown | bad |
/// |---|---|---|---|
/// | category base | `ai_api`, `local_llm` 0.5 · others 1 · `ai_browser_extension` 1.5 | | |
/// | trains on user data | no 0 | 1.5 | yes 3 |
/// | retention | none/device 0 · ≤30 days 0.5 · period 1 | 1 | until deleted 1.5 |
/// | enterprise tier | yes 0 | 0.5 | no 1 |
/// | SSO | yes 0 | 0.5 | no 1 |
/// | data region | device or other 0 | 1 | CN/RU/IR/KP 2 |
/// | compliance claims | some 0 | 0.5 | none 1 |
///
/// For a local app (runs on the device) enterprise tier, SSO and compliance score 0: no vendor
/// holds the data. The sum is capped at 10 and rounded to one decimal.
public struct RiskScore: Sendable, Equatable {
    /// One line of the breakdown: what the factor was and what it added.
    public struct Factor: Sendable, Equatable {
        public var name: String
        public var points: Double
        public var reason: String
    }

    /// Jurisdictions where a vendor can be compelled to hand over data with no recourse the
    /// organisation can rely on.
    public static let highRiskRegions: Set<String> = ["CN", "RU", "IR", "KP"]

    public var factors: [Factor]

    public var value: Double {
        (min(10, factors.reduce(0) { $0 + $1.points }) * 10).rounded() / 10
    }

    public init(_ app: AIApp) {
        let risk = app.risk
        let local = risk.local?.value == true
        var factors: [Factor] = []
        func add(_ name: String, _ points: Double, _ reason: String) { factors.append(Factor(name: name, points: points, reason: reason)) }

        switch app.category {
        case "ai_api", "local_llm": add("category", 0.5, app.category)
        case "ai_browser_extension": add("category", 1.5, "browser extension: reads the pages it runs on")
        default: add("category", 1, app.category)
        }
        switch risk.trainsOnUserData?.value {
        case true?: add("trains_on_user_data", 3, "trains on user data by default")
        case false?: add("trains_on_user_data", 0, "does not train on user data")
        case nil: add("trains_on_user_data", 1.5, "unknown")
        }
        switch risk.retention?.value {
        case .none?, .device?: add("retention", 0, "not retained by a vendor")
        case .limited?: add("retention", 0.5, "kept up to 30 days")
        case .period?: add("retention", 1, "kept for a fixed period")
        case .untilDeleted?: add("retention", 1.5, "kept until deleted")
        case nil: add("retention", 1, "unknown")
        }
        for (name, fact) in [("enterprise_tier", risk.enterpriseTier), ("sso", risk.sso)] {
            switch (local, fact?.value) {
            case (true, _): add(name, 0, "local app")
            case (false, true?): add(name, 0, "available")
            case (false, false?): add(name, 1, "not available")
            case (false, nil): add(name, 0.5, "unknown")
            }
        }
        switch risk.dataRegion?.value {
        case let region? where Self.highRiskRegions.contains(region.uppercased()): add("data_region", 2, "processed in \(region)")
        case let region?: add("data_region", 0, region == "device" ? "stays on the device" : "processed in \(region)")
        case nil: add("data_region", local ? 0 : 1, local ? "local app" : "unknown")
        }
        switch (local, risk.compliance?.value) {
        case (true, _): add("compliance", 0, "local app")
        case (false, let claims?) where !claims.isEmpty: add("compliance", 0, claims.joined(separator: ", "))
        case (false, _?): add("compliance", 1, "no certifications")
        case (false, nil): add("compliance", 0.5, "unknown")
        }
        self.factors = factors
    }
}
