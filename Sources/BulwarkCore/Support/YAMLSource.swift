import Foundation
import Yams

/// A YAML file that cannot be used, with where and why: `agent.yaml:12:7: unknown key 'hartbeat'`.
public struct YAMLFault: Error, CustomStringConvertible, Equatable {
    public var source: String
    /// 1-based; 0 when the problem is not at one place (an unreadable file).
    public var line: Int
    public var column: Int
    public var message: String

    public init(source: String, line: Int, column: Int, message: String) {
        self.source = source
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        line > 0 ? "\(source):\(line):\(column): \(message)" : "\(source): \(message)"
    }
}

/// Reads YAML strictly, keeping every node's position, so the policy language and the
/// configuration files report faults the same way: file, line, column and what is expected.
public struct YAMLSource: Sendable {
    /// The file name (or other label) faults carry.
    public var source: String

    public init(source: String) {
        self.source = source
    }

    /// Reads the whole of `path`; a file that cannot be read is a fault without a position.
    public static func read(path: String, what: String) throws(YAMLFault) -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw YAMLFault(source: path, line: 0, column: 0, message: "cannot read the \(what) (\(error.localizedDescription))")
        }
    }

    /// The document's root node; nil for an empty document.
    public func compose(_ text: String) throws(YAMLFault) -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw syntaxError(error)
        } catch {
            throw YAMLFault(source: source, line: 0, column: 0, message: "not YAML: \(error)")
        }
    }

    /// A YAML mapping with the checks every section needs.
    public struct Map {
        public var node: Node
        public var pairs: [(key: String, keyNode: Node, value: Node)]
        public var what: String
        public var yaml: YAMLSource

        public subscript(key: String) -> Node? { pairs.first { $0.key == key }?.value }

        public func required(_ key: String) throws(YAMLFault) -> Node {
            guard let value = self[key] else { throw yaml.fail(node, "\(what) needs '\(key)'") }
            return value
        }

        /// The single value under `key`, if present.
        public func string(_ key: String) throws(YAMLFault) -> String? {
            guard let value = self[key] else { return nil }
            return try yaml.scalar(value, key)
        }

        /// The values under `key` (one value or a list), empty if absent.
        public func list(_ key: String) throws(YAMLFault) -> [String] {
            guard let value = self[key] else { return [] }
            return try yaml.strings(value, key)
        }

        /// The number under `key`, if present.
        public func double(_ key: String) throws(YAMLFault) -> Double? {
            guard let value = self[key] else { return nil }
            guard let number = Double(try yaml.scalar(value, key)), number.isFinite else { throw yaml.fail(value, "\(key) must be a number") }
            return number
        }

        /// The whole number under `key`, if present.
        public func int(_ key: String) throws(YAMLFault) -> Int? {
            guard let value = self[key] else { return nil }
            guard let number = Int(try yaml.scalar(value, key)) else { throw yaml.fail(value, "\(key) must be a whole number") }
            return number
        }

        /// The true/false under `key`, if present (YAML's yes/no/on/off too).
        public func bool(_ key: String) throws(YAMLFault) -> Bool? {
            guard let value = self[key] else { return nil }
            switch try yaml.scalar(value, key).lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: throw yaml.fail(value, "\(key) must be true or false")
            }
        }

        /// Fails at `key`'s value (or the mapping, when the key is absent) unless `condition` holds.
        public func require(_ key: String, _ condition: Bool, _ message: String) throws(YAMLFault) {
            if !condition { throw yaml.fail(self[key] ?? node, message) }
        }

        public func allow(_ keys: Set<String>) throws(YAMLFault) {
            for pair in pairs where !keys.contains(pair.key) {
                throw yaml.fail(pair.keyNode, "unknown key '\(pair.key)' in \(what) (expected one of: \(keys.sorted().joined(separator: ", ")))")
            }
        }
    }

    public func map(_ node: Node, _ what: String) throws(YAMLFault) -> Map {
        guard let mapping = node.mapping else { throw fail(node, "\(what) must be a mapping (key: value)") }
        var pairs: [(key: String, keyNode: Node, value: Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { throw fail(key, "keys must be plain words") }
            if pairs.contains(where: { $0.key == name }) { throw fail(key, "duplicate key '\(name)' in \(what)") }
            pairs.append((name, key, value))
        }
        return Map(node: node, pairs: pairs, what: what, yaml: self)
    }

    public func scalar(_ node: Node, _ what: String) throws(YAMLFault) -> String {
        guard let scalar = node.scalar else { throw fail(node, "\(what) must be a single value") }
        return scalar.string
    }

    public func sequence(_ node: Node, _ what: String) throws(YAMLFault) -> [Node] {
        guard let sequence = node.sequence else { throw fail(node, "\(what) must be a list") }
        return Array(sequence)
    }

    /// A list, or one value standing for a list of one.
    public func sequenceOrScalar(_ node: Node) throws(YAMLFault) -> [Node] {
        if let sequence = node.sequence { return Array(sequence) }
        guard node.scalar != nil else { throw fail(node, "expected a value or a list of values") }
        return [node]
    }

    public func strings(_ node: Node, _ what: String) throws(YAMLFault) -> [String] {
        var values: [String] = []
        for item in try sequenceOrScalar(node) { values.append(try scalar(item, what)) }
        return values
    }

    public func fail(_ node: Node, _ message: String) -> YAMLFault {
        YAMLFault(source: source, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, message: message)
    }

    private func syntaxError(_ error: YamlError) -> YAMLFault {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text), " } ?? ""
            return YAMLFault(source: source, line: mark.line, column: mark.column, message: "YAML syntax: \(prefix)\(problem)")
        default:
            return YAMLFault(source: source, line: 0, column: 0, message: "YAML syntax: \(error)")
        }
    }
}
