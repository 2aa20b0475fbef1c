import Crypto
import Foundation
import Yams

/// A deployment's changes to the bundled catalog: apps it adds (or replaces, by id) and ids it
/// removes. Read from `catalog.yaml` in the collector's data directory and distributed to agents
/// with the policy bundle.
///
/// ```yaml
/// apps:
///   - id: acme-gpt
///     name: Acme GPT
///     vendor: Acme
///     category: consumer_ai
///     domains: [gpt.acme.example]
///     risk:
///       trains_on_user_data: {value: false, source: "Acme contract, 2026-03"}
/// remove: [character-ai]
/// ```
public struct CatalogOverride: Sendable, Codable, Equatable {
    public var apps: [AIApp]
    public var remove: [String]

    public init(apps: [AIApp] = [], remove: [String] = []) {
        self.apps = apps
        self.remove = remove
    }

    public var isEmpty: Bool { apps.isEmpty && remove.isEmpty }

    /// Short content hash: tells agents and analysts which override a catalog carries.
    public var digest: String {
        let data = (try? WireCoding.encoder().encode(self)) ?? Data()
        return SHA256.hash(data: data).prefix(4).map { String(format: "%02x", $0) }.joined()
    }

    enum CodingKeys: String, CodingKey { case apps, remove }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apps = try c.decodeIfPresent([AIApp].self, forKey: .apps) ?? []
        remove = try c.decodeIfPresent([String].self, forKey: .remove) ?? []
    }

    /// Reads and validates an override file (YAML, or JSON which is YAML too).
    public static func load(path: String) throws -> CatalogOverride {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CatalogError(file: path, problem: "cannot be read (\(error.localizedDescription))")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> CatalogOverride {
        let override: CatalogOverride
        do { override = try YAMLDecoder().decode(CatalogOverride.self, from: text) } catch let error as DecodingError {
            throw CatalogError(file: file, problem: Self.describe(error))
        } catch {
            throw CatalogError(file: file, problem: "is not valid YAML: \(error)")
        }
        try override.validate(file: file)
        return override
    }

    /// Checks what the sensors and the policy engine rely on, naming the app and field at fault.
    public func validate(file: String) throws {
        var seen: Set<String> = []
        for (index, app) in apps.enumerated() {
            let label = "app #\(index + 1) (\(app.id.isEmpty ? app.name : app.id))"
            func fail(_ problem: String) -> CatalogError { CatalogError(file: file, problem: "\(label): \(problem)") }
            guard app.id.range(of: #"^[a-z0-9][a-z0-9._-]{0,63}$"#, options: .regularExpression) != nil else {
                throw fail("id must be 1–64 lowercase letters, digits, '.', '_' or '-'")
            }
            guard seen.insert(app.id).inserted else { throw fail("id appears twice") }
            guard !app.name.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail("name is empty") }
            guard AIAppCatalog.categories.contains(app.category) else {
                throw fail("category '\(app.category)' is not one of \(AIAppCatalog.categories.sorted().joined(separator: ", "))")
            }
            for domain in app.domains where domain.range(of: #"^([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}$"#, options: .regularExpression) == nil {
                throw fail("domain '\(domain)' is not a host name (no scheme, path or wildcard: 'chat.example.com')")
            }
            for name in app.executables where name.isEmpty || name.contains("/") {
                throw fail("executable '\(name)' must be a file name, not a path")
            }
            for port in app.ports where !(1...65535).contains(port) { throw fail("port \(port) is out of range") }
            if let probe = app.probe, !probe.hasPrefix("/") { throw fail("probe '\(probe)' must be an HTTP path starting with '/'") }
            if app.commandLines.contains(where: { $0.count < 4 }) { throw fail("command_lines entries need at least 4 characters") }
        }
        for id in remove where AIAppCatalog.bundled.app(id: id) == nil && !seen.contains(id) {
            throw CatalogError(file: file, problem: "remove: '\(id)' is not an app of the bundled catalog")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "#\($0 + 1)" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)): '\(key.stringValue)' is missing"
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "is not valid YAML: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// A catalog override that cannot be used, and why.
public struct CatalogError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var problem: String

    public var description: String { "catalog override \(file): \(problem); fix the file and restart the collector" }
}
