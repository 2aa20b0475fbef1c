/// The `dlp.decision` event's data: what was decided, why, and about which information types —
/// never the content. Each finding keeps at most `maxMatchesPerType` matches, each as a masked
/// snippet and the keyed hash of its normalised value (so analysts can see "the same card
/// three times" without seeing the card).
public enum DLPEvent {
    public static let maxMatchesPerType = 20

    /// An incident id people can read out over the phone: `BW-` and 10 characters of Crockford
    /// base32 (no I, L, O, U), 50 random bits.
    public static func newIncidentID() -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var generator = SystemRandomNumberGenerator()
        return "BW-" + String((0..<10).map { _ in alphabet[Int.random(in: 0..<32, using: &generator)] })
    }

    public static func data(
        incidentID: String, policy: String, request: PolicyRequest, decision: PolicyDecision, contentBytes: Int? = nil
    ) -> [String: JSONValue] {
        let findings: [JSONValue] = request.content.findings.map { finding in
            .object([
                "type": .string(finding.type),
                "count": .number(Double(finding.count)),
                "confidence": .number(Double(finding.confidence)),
                "matches": .array(finding.matches.prefix(maxMatchesPerType).map { match in
                    var fields: [String: JSONValue] = [
                        "start": .number(Double(match.start)), "end": .number(Double(match.end)),
                        "confidence": .number(Double(match.confidence)), "masked": .string(match.masked),
                    ]
                    if let hash = match.hash { fields["hash"] = .string(hash) }
                    return .object(fields)
                }),
            ])
        }
        var data: [String: JSONValue] = [
            "incident_id": .string(incidentID),
            "activity": .string(request.activity.rawValue),
            "action": .string(decision.action.rawValue),
            "sanction": .string(request.destination.sanction.rawValue),
            "findings": .array(findings),
            "labels": .array(request.content.labels.map { label in
                .object(["id": .string(label.id), "name": label.name.map(JSONValue.string) ?? .null, "source": .string(label.source)])
            }),
            "partial": .bool(request.content.partial),
            "policy": .string(policy),
            "reasons": .array(decision.matched.map { .string("\($0.rule) (\($0.action.rawValue)\($0.excepted ? ", excepted" : "")): \($0.because.joined(separator: "; "))") }),
        ]
        if let rule = decision.rule { data["rule"] = .string(rule) }
        if let app = request.destination.appID { data["app"] = .string(app) }
        if let category = request.destination.category { data["category"] = .string(category) }
        if let user = request.user { data["user"] = .string(user) }
        // Decided under adaptive protection: the level that tightened it.
        if request.userRisk != .low { data["user_risk"] = .string(request.userRisk.rawValue) }
        if let reason = request.content.partialReason { data["partial_reason"] = .string(reason) }
        if let contentBytes { data["content_bytes"] = .number(Double(contentBytes)) }
        return data
    }
}
