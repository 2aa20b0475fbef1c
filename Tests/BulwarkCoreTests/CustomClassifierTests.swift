import BulwarkCore
import Crypto
import Foundation
import Testing

@Suite("Custom classifiers: keyword dictionaries, regex, Exact Data Match, document fingerprints")
struct CustomClassifierTests {
    let keyedHash = KeyedHash(key: SymmetricKey(size: .bits256))

    func classifier(_ definitions: [CustomClassifierDefinition], directory: String = "/nonexistent") throws -> ContentClassifier {
        ContentClassifier(keyedHash: keyedHash, custom: try CustomClassifiers.load(definitions, directory: directory, keyedHash: keyedHash))
    }

    func matches(_ classifier: ContentClassifier, _ text: String, _ type: String) -> [FindingMatch] {
        classifier.scan(text).findings.first { $0.type == type }?.matches ?? []
    }

    @Test("keyword dictionaries: case- and diacritics-insensitive, whole words, byte ranges in the original text")
    func keywords() throws {
        let classifier = try classifier([CustomClassifierDefinition(id: "falcon", kind: .keywords(["Project Falcon", "Société Générale"]))])
        let text = "Zoë: PROJECT FALCON with societe generale and Falconry, projectfalcon, Société  Générale."
        let found = matches(classifier, text, "keywords:falcon")
        #expect(found.count == 2)
        let ranges = found.map { Array(text.utf8)[$0.start..<$0.end] }.map { String(decoding: $0, as: UTF8.self) }
        #expect(ranges == ["PROJECT FALCON", "societe generale"])
        let accented = matches(classifier, "née à la Société Générale", "keywords:falcon")
        #expect(accented.map { String(decoding: Array("née à la Société Générale".utf8)[$0.start..<$0.end], as: UTF8.self) } == ["Société Générale"])
        #expect(found.first?.hash == matches(classifier, "project falcon", "keywords:falcon").first?.hash)
    }

    @Test("regex: validator decides, keywords raise confidence, offsets are UTF-8 bytes")
    func regex() throws {
        let classifier = try classifier([CustomClassifierDefinition(
            id: "employee", kind: .regex(pattern: "EMP-[0-9]{8}", validator: "luhn", keywords: ["employee"]))])
        #expect(matches(classifier, "ref EMP-79927398", "regex:employee").map(\.confidence) == [75])
        #expect(matches(classifier, "employee EMP-79927398", "regex:employee").map(\.confidence) == [85])
        #expect(matches(classifier, "employee EMP-79927397", "regex:employee").isEmpty)  // Luhn fails
        let offsets = matches(classifier, "Zoë → EMP-79927398", "regex:employee").map { [$0.start, $0.end] }
        #expect(offsets == [[9, 21]])
        #expect(matches(classifier, "ref EMP-79927398", "regex:employee").first?.masked == "***-****7398")
        let plain = try self.classifier([CustomClassifierDefinition(id: "ticket", kind: .regex(pattern: "TCK-[A-Z]{3}", validator: nil, keywords: []))])
        #expect(matches(plain, "see TCK-ABC", "regex:ticket").map(\.confidence) == [65])
    }

    static let schema = EDMSchema(name: "customers", primary: "account_number", minMatches: 2, columns: [
        .init(name: "account_number", kind: .digits), .init(name: "full_name", kind: .text), .init(name: "email", kind: .email),
    ])
    static let csv = "account_number,full_name,email\r\n\"4410-2231-77\",Zoë Müller,zoe@example.org\r\n55012345,\"Smith, John\",john@example.net\r\n,No Account,x@example.com\r\n"

    func edmDirectory(key: KeyedHash) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-edm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let built = try EDMTable.build(schema: Self.schema, csv: CSVReader.parse(Self.csv), keyedHash: key)
        #expect(built.skipped == 1)
        try WireCoding.encoder().encode(built.table).write(to: URL(fileURLWithPath: directory + "/customers.edm"))
        return directory
    }

    @Test("EDM: a row's value plus another field of the same row nearby; no plaintext in the table")
    func exactDataMatch() throws {
        let directory = try edmDirectory(key: keyedHash)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let stored = try String(contentsOfFile: directory + "/customers.edm", encoding: .utf8)
        // Whole values: a short digit run like "4410" turns up in random hex now and then.
        for plaintext in ["4410223177", "4410-2231-77", "Müller", "Muller", "zoe@", "Smith", "55012345"] { #expect(!stored.contains(plaintext)) }

        let classifier = try classifier([CustomClassifierDefinition(id: "customers", kind: .edm(file: "customers.edm"))], directory: directory)
        let hit = matches(classifier, "Customer ZOE MULLER, account 4410 2231 77, please refund", "edm:customers")
        #expect(hit.count == 1)
        #expect(hit.first?.masked == "**** **** 77 (2 of 3 fields)")
        #expect(matches(classifier, "account 4410223177 and zoe@example.org", "edm:customers").count == 1)
        #expect(matches(classifier, "account 4410223177 alone", "edm:customers").isEmpty)
        #expect(matches(classifier, "John Smith has account 4410223177", "edm:customers").isEmpty)  // another row's name
        #expect(matches(classifier, "smith john 55012345", "edm:customers").count == 1)
        #expect(matches(classifier, "Zoë Müller 9999999999", "edm:customers").isEmpty)

        let definitions = [CustomClassifierDefinition(id: "customers", kind: .edm(file: "customers.edm"))]
        #expect(loadError(definitions, directory: directory, key: KeyedHash(key: SymmetricKey(size: .bits256)))?.reason
            == "\(directory)/customers.edm was hashed with another deployment's key; hash it again with this deployment's key")
        #expect(loadError(definitions, directory: directory, key: nil)?.description
            == "classifier 'customers': Exact Data Match needs the deployment key (enroll the agent, or pass --key)")
        #expect(loadError([CustomClassifierDefinition(id: "gone", kind: .edm(file: "missing.edm"))], directory: directory, key: keyedHash)?
            .reason.hasPrefix("cannot read EDM table") == true)
    }

    /// The error loading `definitions` gives, nil if it succeeds. (A plain function: typed
    /// throws inside test closures crash this compiler.)
    func loadError(_ definitions: [CustomClassifierDefinition], directory: String, key: KeyedHash?) -> CustomClassifierError? {
        do {
            _ = try CustomClassifiers.load(definitions, directory: directory, keyedHash: key)
            return nil
        } catch {
            return error
        }
    }

    @Test("EDM schema errors are specific")
    func edmErrors() {
        #expect((try? EDMTable.build(schema: Self.schema, csv: [["account_number", "name"]], keyedHash: keyedHash)) == nil)
        var bad = Self.schema
        bad.primary = "iban"
        #expect((try? EDMTable.build(schema: bad, csv: CSVReader.parse(Self.csv), keyedHash: keyedHash)) == nil)
        #expect(CSVReader.parse("a,\"b \"\"quoted\"\", c\"\nd,e") == [["a", "b \"quoted\", c"], ["d", "e"]])
    }

    static let contract = """
    This Master Services Agreement is entered into by and between the Supplier and the Customer. The Supplier shall \
    provide the services described in each statement of work with reasonable skill and care. The Customer shall pay all \
    undisputed invoices within thirty days of receipt. Either party may terminate this agreement on ninety days written \
    notice. Each party shall keep the other party's confidential information secret and use it only for this agreement.
    """

    @Test("fingerprints: reformatted or partial copies match above the threshold, unrelated text does not")
    func fingerprints() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-fp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fingerprint = try DocumentFingerprint.create(name: "msa", text: Array(Self.contract.utf8))
        #expect(fingerprint.hashes.count > 10)
        try WireCoding.encoder().encode(fingerprint).write(to: URL(fileURLWithPath: directory + "/msa.fp"))
        let classifier = try classifier([CustomClassifierDefinition(id: "msa", kind: .fingerprint(file: "msa.fp", threshold: 0.5))], directory: directory)

        let reformatted = "Hi, please summarise:\n\n" + Self.contract.uppercased().replacingOccurrences(of: ". ", with: ".\n\n  ") + "\nThanks!"
        let found = matches(classifier, reformatted, "fingerprint:msa")
        #expect(found.count == 1)
        #expect(found.first?.masked.hasPrefix("similar to msa (100%") == true)
        let firstHalf = String(Self.contract.prefix(Self.contract.count * 2 / 3))
        #expect(matches(classifier, firstHalf, "fingerprint:msa").count == 1)
        let quarter = String(Self.contract.prefix(Self.contract.count / 4))
        #expect(matches(classifier, quarter, "fingerprint:msa").isEmpty)
        #expect(matches(classifier, "The services agreement was discussed at length by the team today.", "fingerprint:msa").isEmpty)
        #expect((try? DocumentFingerprint.create(name: "x", text: Array("too short".utf8))) == nil)
    }
}
