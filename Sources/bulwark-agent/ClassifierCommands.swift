import ArgumentParser
import BulwarkCore
import Foundation
import Yams

struct EDMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edm", abstract: "Exact Data Match: turn a table of sensitive records into salted keyed hashes.",
        subcommands: [Hash.self])

    struct Hash: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hash a CSV table per a schema. Only hashes are written; the output is what policies reference.")
        @Option(help: "Schema YAML: name, primary, min_matches, columns (name, kind: digits|alnum|email|text).") var schema: String
        @Option(help: "CSV file with a header row.") var csv: String
        @OptionGroup var keyOption: KeyOption
        @Option(help: "Output file (default: NAME.edm next to the CSV).") var out: String?

        func run() async throws {
            guard let keyedHash = try keyOption.keyedHash() else {
                throw CommandFailure("no hash key: pass --key with the collector's hmac.key (or run on an enrolled agent)")
            }
            let parsed: EDMSchema
            do { parsed = try YAMLDecoder().decode(EDMSchema.self, from: try String(contentsOfFile: schema, encoding: .utf8)) } catch {
                throw CommandFailure("invalid EDM schema \(schema): \(error)")
            }
            let text: String
            do { text = try String(contentsOfFile: csv, encoding: .utf8) } catch { throw CommandFailure("cannot read \(csv): \(error.localizedDescription)") }
            let built: (table: EDMTable, skipped: Int)
            do { built = try EDMTable.build(schema: parsed, csv: CSVReader.parse(text), keyedHash: keyedHash) } catch {
                throw CommandFailure("\(error)")
            }
            let output = out ?? ((csv as NSString).deletingLastPathComponent as NSString).appendingPathComponent("\(parsed.name).edm")
            try SecureFile.write(try WireCoding.encoder().encode(built.table), to: output, mode: .publicReadable)
            print("wrote \(output): \(built.table.rows.count) row(s) hashed, \(parsed.columns.count) column(s)"
                + (built.skipped > 0 ? ", \(built.skipped) row(s) skipped (no usable \(parsed.primary))" : ""))
            print("reference it in a policy:  classifiers: [{id: \(parsed.name), kind: edm, file: \((output as NSString).lastPathComponent)}]")
        }
    }
}

struct FingerprintCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fingerprint", abstract: "Document fingerprints: detect content similar to a sample document.",
        subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fingerprint a sample document (text, docx, xlsx, pptx, PDF, HTML).")
        @Option(help: "Name the findings carry (fingerprint:NAME).") var name: String
        @Argument(help: "Sample document.") var file: String
        @Option(help: "Output file (default: NAME.fp next to the sample).") var out: String?

        func run() async throws {
            let content: ExtractedContent
            do { content = try ContentExtractor().extract(path: file) } catch { throw CommandFailure("\(error)") }
            let fingerprint: DocumentFingerprint
            do { fingerprint = try DocumentFingerprint.create(name: name, text: content.text) } catch { throw CommandFailure("cannot fingerprint \(file): \(error)") }
            let output = out ?? ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent("\(name).fp")
            try SecureFile.write(try WireCoding.encoder().encode(fingerprint), to: output, mode: .publicReadable)
            print("wrote \(output): \(fingerprint.hashes.count) selected shingles (\(fingerprint.k)-word shingles, window \(fingerprint.window))")
            print("reference it in a policy:  classifiers: [{id: \(name), kind: fingerprint, file: \((output as NSString).lastPathComponent), threshold: 0.5}]")
        }
    }
}
