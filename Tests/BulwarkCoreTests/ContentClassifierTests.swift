import BulwarkCore
import Foundation
import Crypto
import Testing

@Suite("Content classifier (first information types)")
struct ContentClassifierTests {
    let classifier = ContentClassifier()

    func finding(_ text: String, _ type: String) -> Finding? {
        classifier.scan(text).findings.first { $0.type == type }
    }

    @Test("cards: medium on checksum alone, high with a keyword or expiry date; test numbers ignored")
    func cards() throws {
        let alone = try #require(finding("ref 4526 0181 5908 3012 ok", "credit_card"))
        #expect(alone.confidence == 75)
        #expect(alone.matches.first?.masked == "4526 **** **** 3012")
        #expect(alone.matches.first.map { [$0.start, $0.end] } == [4, 23])
        #expect(finding("Card number: 4526-0181-5908-3012", "credit_card")?.confidence == 85)
        #expect(finding("4526018159083012 exp 11/29", "credit_card")?.confidence == 85)
        #expect(finding("Visa 4111 1111 1111 1111 and 4242424242424242", "credit_card") == nil)
        #expect(finding("order 4526018159083013", "credit_card") == nil)  // Luhn fails
        #expect(finding("id 14526018159083012", "credit_card") == nil)  // longer number
        #expect(finding("v4526018159083012", "credit_card") == nil)  // glued to a word
        #expect(finding("4526 0181-5908 3012", "credit_card") == nil)  // mixed separators
        #expect(finding("pi=3.4526018159083012", "credit_card") == nil)  // a decimal
    }

    @Test("SSNs only with a keyword; dashed format is high, contiguous medium")
    func ssns() {
        #expect(finding("SSN: 536-22-1904", "us_ssn")?.confidence == 85)
        #expect(finding("social security number 536221904", "us_ssn")?.confidence == 75)
        #expect(finding("call 536-22-1904", "us_ssn") == nil)
        #expect(finding("SSN 666-22-1904", "us_ssn") == nil)
        #expect(finding("SSN: 536-22-1904", "us_ssn")?.matches.first?.masked == "***-**-1904")
    }

    @Test("IBANs compact or in groups of four, with or without keyword")
    func ibans() {
        #expect(finding("pay to GB82 WEST 1234 5698 7654 32 today", "iban")?.confidence == 75)
        #expect(finding("IBAN: DE89370400440532013000", "iban")?.confidence == 85)
        #expect(finding("IBAN: DE89370400440532013001", "iban") == nil)
    }

    @Test("e-mail addresses")
    func emails() {
        let found = classifier.scan("Write to jane.doe+ai@example.co.uk. Or to bob@localhost, or @home.")
        let emails = found.findings.first { $0.type == "email" }
        #expect(emails?.count == 1)
        #expect(emails?.matches.first.map { [$0.start, $0.end] } == [9, 34])
    }

    @Test("keyed hashes identify the same value across formats without revealing it")
    func hashes() {
        let keyed = ContentClassifier(keyedHash: KeyedHash(key: SymmetricKey(size: .bits256)))
        let first = keyed.scan("card 4526 0181 5908 3012").findings.first?.matches.first?.hash
        let second = keyed.scan("card 4526-0181-5908-3012").findings.first?.matches.first?.hash
        #expect(first != nil && first == second)
        #expect(ContentClassifier().scan("card 4526 0181 5908 3012").findings.first?.matches.first?.hash == nil)
    }
}

@Suite("Content classifier: secrets")
struct SecretClassifierTests {
    let classifier = ContentClassifier()

    static func random(_ count: Int, from alphabet: String) -> String {
        let characters = Array(alphabet)
        return String((0..<count).map { _ in characters[Int.random(in: 0..<characters.count)] })
    }

    static let upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    static let alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    func types(_ text: String) -> [String] {
        classifier.scan(text).findings.map(\.type)
    }

    @Test("vendor tokens are found by exact prefix, alphabet and length")
    func tokens() {
        let samples: [(String, String)] = [
            ("aws_access_key_id", "AKIA" + Self.random(16, from: Self.upper)),
            ("github_token", "ghp_" + Self.random(36, from: Self.alnum)),
            ("github_token", "github_pat_" + Self.random(82, from: Self.alnum + "_")),
            ("gitlab_token", "glpat-" + Self.random(20, from: Self.alnum)),
            ("slack_token", "xoxb-" + Self.random(40, from: Self.alnum + "-")),
            ("slack_webhook", "https://hooks.slack.com/services/T0" + Self.random(8, from: Self.upper) + "/B0" + Self.random(8, from: Self.upper) + "/" + Self.random(24, from: Self.alnum)),
            ("anthropic_api_key", "sk-ant-api03-" + Self.random(93, from: Self.alnum + "-_")),
            ("openai_api_key", "sk-proj-" + Self.random(64, from: Self.alnum + "-_")),
            ("google_api_key", "AIza" + Self.random(35, from: Self.alnum + "-_")),
            ("stripe_key", "sk_live_" + Self.random(24, from: Self.alnum)),
        ]
        for (type, token) in samples {
            let result = classifier.scan("config: \(token)\n")
            #expect(result.findings.map(\.type) == [type], "\(token)")
            let masked = result.findings.first?.matches.first?.masked ?? ""
            #expect(!masked.contains(String(token.suffix(8))), "masked snippet must not reveal the token: \(masked)")
        }
    }

    @Test("documented examples, wrong case, wrong length and embedded tokens are not reported")
    func negatives() {
        #expect(types("aws_access_key_id = AKIAIOSFODNN7EXAMPLE").isEmpty)
        #expect(types("akia" + Self.random(16, from: Self.upper)).isEmpty)
        #expect(types("AKIA" + Self.random(15, from: Self.upper)).isEmpty)
        #expect(types("AKIA" + Self.random(17, from: Self.upper)).isEmpty)
        #expect(types("XAKIA" + Self.random(16, from: Self.upper)).isEmpty)
        #expect(types("ghp_" + Self.random(35, from: Self.alnum)).isEmpty)
    }

    @Test("private keys are reported, certificates and public keys are not")
    func privateKeys() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"
        let found = classifier.scan("id_ed25519:\n" + key).findings
        #expect(found.map(\.type) == ["private_key"])
        #expect(found.first?.matches.first?.masked.hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----") == true)
        #expect(found.first?.matches.first?.masked.contains("b3BlbnNz") == false)
        #expect(types("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").isEmpty)
        #expect(types("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----").isEmpty)
        #expect(types("-----begin private key-----").isEmpty)
    }
}

@Suite("Content classifier: national identifiers")
struct NationalIdentifierTests {
    let classifier = ContentClassifier()

    @Test("found with their keyword, ignored without", arguments: [
        ("uk_nino", "National Insurance number: AB123456C", "reference AB123456C"),
        ("uk_nino", "NI number AB 12 34 56 C.", "reference AB 12 34 56 C."),
        ("uk_nhs", "NHS number 943 476 5919", "order 943 476 5919"),
        ("ca_sin", "SIN: 130-692-544", "call 130-692-544"),
        ("de_tax_id", "Steuer-ID 86095742719", "Rechnung 86095742719"),
        ("fr_insee", "numéro de sécurité sociale 2 55 08 14 168 025 38", "ref 2 55 08 14 168 025 38"),
        ("es_dni", "DNI 12345678Z", "pedido 12345678Z"),
        ("it_fiscal_code", "codice fiscale RSSMRA85T10A562S", "ordine RSSMRA85T10A562S"),
        ("nl_bsn", "BSN: 111222333", "factuur 111222333"),
        ("in_aadhaar", "Aadhaar 2341 2341 2346", "invoice 2341 2341 2346"),
        ("au_tfn", "TFN 123 456 782", "invoice 123 456 782"),
    ])
    func found(type: String, withKeyword: String, withoutKeyword: String) {
        let found = classifier.scan(withKeyword).findings.filter { $0.type == type }
        #expect(found.count == 1, "\(withKeyword)")
        #expect(found.first?.count == 1)
        #expect(found.first?.confidence == 85)
        #expect(!classifier.scan(withoutKeyword).findings.contains { $0.type == type }, "\(withoutKeyword)")
    }

    @Test("a checksum failure is not reported even with the keyword")
    func checksum() {
        #expect(classifier.scan("NHS number 943 476 5918").findings.map(\.type) == ["phone"])  // shaped like a US number
        #expect(classifier.scan("NHS number 943 476 5919").findings.map(\.type) == ["uk_nhs"])  // the identifier, not also a phone
        #expect(classifier.scan("codice fiscale RSSMRA85T10A562T").findings.isEmpty)
    }
}

@Suite("Content classifier: JWTs and passwords in URLs")
struct TokenFormatTests {
    let classifier = ContentClassifier()

    static func base64url(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("JWTs whose header and payload decode to JSON")
    func jwt() {
        let token = Self.base64url(#"{"alg":"HS256","typ":"JWT"}"#) + "." + Self.base64url(#"{"sub":"1234567890","name":"Jane"}"#)
            + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
        let found = classifier.scan("Authorization: Bearer \(token)").findings
        #expect(found.map(\.type) == ["jwt"])
        #expect(found.first?.matches.first?.masked.hasPrefix("eyJ") == true)
        #expect(classifier.scan("eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV").findings.isEmpty)
        #expect(classifier.scan("eyJ0aGlzIjogImlzIGEgc3RyaW5nIn0").findings.isEmpty)
    }

    @Test("passwords in URLs; placeholders and variables are not passwords")
    func passwordInURL() {
        let found = classifier.scan("DATABASE_URL=postgres://admin:s3cr3t-Pa55@db.internal:5432/app").findings
        #expect(found.map(\.type) == ["password_in_url"])
        #expect(found.first?.matches.first?.masked == "postgres://admin:****@db.internal:5432")
        #expect(classifier.scan("postgres://admin:password@db/app").findings.isEmpty)
        #expect(classifier.scan("postgres://admin:${DB_PASSWORD}@db/app").findings.isEmpty)
        #expect(classifier.scan("https://example.com/path?x=1").findings.isEmpty)
        #expect(classifier.scan("https://user@example.com/").findings.isEmpty)
    }
}

@Suite("Content classifier: secrets in assignments")
struct AssignmentTests {
    let classifier = ContentClassifier()

    func types(_ text: String) -> [String] { classifier.scan(text).findings.map(\.type) }

    @Test("passwords, generic secrets and AWS secret keys assigned in code and config")
    func found() {
        let password = classifier.scan(#"DB_PASSWORD = "Tr0ub4dor&3x!""#).findings
        #expect(password.map(\.type) == ["password_assignment"])
        #expect(password.first?.matches.first?.masked == #"DB_PASSWORD = "****""#)
        #expect(types("client_secret: 9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c") == ["generic_secret"])
        let awsSecret = SecretClassifierTests.random(40, from: SecretClassifierTests.alnum + "/+")
        #expect(types("aws_secret_access_key = \"\(awsSecret)\"") == ["aws_secret_access_key"])
        #expect(types("apiKey: 'Zx8Qw2Lp9Rt5Vb3Nm7Kj4Hg6Fd1Sa0Pq'") == ["generic_secret"])
    }

    @Test("placeholders, variables, calls, comparisons and low-entropy values are not secrets")
    func notFound() {
        #expect(types("password = changeme").isEmpty)
        #expect(types("password = ${DB_PASSWORD}").isEmpty)
        #expect(types("password = os.getenv('DB_PASSWORD')").isEmpty)
        #expect(types("if password == user_input:").isEmpty)
        #expect(types("password: aaaaaaaaaaaa").isEmpty)
        #expect(types("token = <your token here>").isEmpty)
        #expect(types("secret = short").isEmpty)
        #expect(types("PWD=/home/alice/projects").isEmpty)
        #expect(types("password: !vault |").isEmpty)
        #expect(types(#"aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY""#).isEmpty)  // AWS's documented example
    }
}

@Suite("Content classifier: phone numbers, IP addresses, Azure keys")
struct ContactAndNetworkTests {
    let classifier = ContentClassifier()

    func found(_ text: String, _ type: String) -> [FindingMatch] {
        classifier.scan(text).findings.first { $0.type == type }?.matches ?? []
    }

    @Test("phones: E.164 and national shapes; dates, SSNs, IPs and bare numbers are not phones")
    func phones() {
        #expect(found("reach +44 20 7946 0958 today", "phone").map(\.confidence) == [75])
        #expect(found("reach +44 20 7946 0958 today", "phone").first.map { [$0.start, $0.end] } == [6, 22])
        #expect(found("office (415) 555-2671", "phone").map(\.confidence) == [65])
        #expect(found("office 212-555-0147x23.", "phone").map(\.end) == [22])
        #expect(found("mobile 0490 75 40 81", "phone").map(\.confidence) == [75])
        #expect(found("ring 07700 900 461", "phone").map(\.confidence) == [65])
        #expect(found("tel: 467 3395", "phone").count == 1)
        #expect(found("room 467 3395", "phone").isEmpty)  // 7 digits need a keyword
        #expect(found("call 2026-11-26 or 26.11.2026", "phone").isEmpty)
        #expect(found("call SSN 536-22-1904", "phone").isEmpty)
        #expect(found("call host 10.218.6.131", "phone").isEmpty)
        #expect(found("order 4155552671 shipped", "phone").isEmpty)
        #expect(found("id 123-456-7890", "phone").isEmpty)  // area code cannot start with 1
        #expect(found("v2.415.555.2671.1", "phone").isEmpty)
    }

    @Test("IPv4 and IPv6 addresses; versions, MAC addresses, times and C++ scopes are not")
    func addresses() {
        #expect(found("server 10.218.6.131 down", "ipv4").map(\.confidence) == [75])
        #expect(found("got 86.231.85.193.", "ipv4").map(\.confidence) == [65])
        #expect(found("version 1.2.3.4.5", "ipv4").isEmpty)
        #expect(found("see http://10.1.2.3:8080/x and host:192.168.0.1", "ipv4").map { [$0.start, $0.end] } == [[11, 19], [36, 47]])
        #expect(found("bad 256.1.1.1 and 01.2.3.4", "ipv4").isEmpty)
        #expect(found("at 2001:db8:85a3::8a2e:370:7334 now", "ipv6").map { [$0.start, $0.end] } == [[3, 31]])
        #expect(found("host 3b20:9a3a:1b2f:7ce:9ef1:4787:85fc:261e", "ipv6").map(\.confidence) == [75])
        #expect(found("std::vector a::b mac 00:1a:2b:3c:4d:5e at 12:30:45", "ipv6").isEmpty)
    }

    @Test("Azure storage account keys in connection strings")
    func azure() {
        let key = String(repeating: "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0hJSktMTU5PUA", count: 1) + "=="
        #expect(key.count == 88)
        let text = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=\(key);EndpointSuffix=core.windows.net"
        #expect(found(text, "azure_storage_key").map(\.masked) == ["AccountKey=****"])
        #expect(found("AccountKey=" + key.dropLast(3) + "==", "azure_storage_key").isEmpty)  // 87 characters
        #expect(found("AccountKey=" + String(repeating: "A", count: 86) + "==", "azure_storage_key").isEmpty)  // no entropy
        #expect(found("accountkey=" + key, "azure_storage_key").isEmpty)
    }
}

@Suite("Content classifier: formats found by the accuracy comparison")
struct AccuracyRegressionTests {
    let classifier = ContentClassifier()

    func types(_ text: String) -> [String] { classifier.scan(text).findings.map(\.type) }
    func confidence(_ text: String, _ type: String) -> Int? { classifier.scan(text).findings.first { $0.type == type }?.confidence }

    @Test("vendor prefixes: GitLab's token family, Slack app tokens, legacy OpenAI keys, Stripe test and webhook secrets, PGP keys")
    func prefixes() {
        #expect(types("gldt-9BeUoeWu2V9uUS3uLoMy # Deploy token") == ["gitlab_token"])
        #expect(types("glrt-2CR8_eVxiio-1QmzPZwa") == ["gitlab_token"])
        #expect(types("glpat-8d5ri2n9g85LAnC9YW85.01.cgpAsnEmP.") == ["gitlab_token"])
        #expect(types("xapp-1-A0F6JEP4877-3425459257038-ff6379c940d5ed64f2cf3c820578dcebe5e83dccc0ebd") == ["slack_token"])
        #expect(types("key 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") == ["openai_api_key"])
        #expect(types("sk-qa25MV9c7Qu0EjDIEWdcX3BlbkFJ83uCF0K4yw7RzpY39bio").isEmpty)  // no OpenAI marker
        #expect(types("whsec_IsQVcHgjVWTBwlClIsICTD0mpDr4gJ4m") == ["stripe_key"])
        #expect(types("sk_test_T1z4jtdp7dcC39HqLyjWareD") == ["stripe_key"])
        #expect(types("pk_test_Tph4NiI7TYooMQaujxvdEDq5").isEmpty)  // publishable keys are public
        #expect(types("AKIAGIREOGIAEXAMPLE7").isEmpty)
        #expect(types("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----") == ["private_key"])
        #expect(confidence("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz\n-----END ENCRYPTED PRIVATE KEY-----", "private_key") == 75)
        #expect(confidence("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,1\n\nabc\n-----END RSA PRIVATE KEY-----", "private_key") == 75)
    }

    @Test("assignments: short key names as whole parts, := , typed declarations, second words, SQL, quoted after a space")
    func assignments() {
        #expect(types("my_pw: nCzx8A8#!") == ["password_assignment"])
        #expect(types("dbPass = 'Xy7#kq2Lm'") == ["password_assignment"])
        #expect(types("compass = 'Xy7#kq2Lm9'").isEmpty)
        #expect(types("monkey = 'Xy7kq2Lm9Tz4Qw'").isEmpty)
        #expect(types("$key = 'gmUGWxhQW9KQWdhd0lCQVFR'") == ["generic_secret"])
        #expect(types("PSWD:=FlUgeGeHeImEn03") == ["password_assignment"])
        #expect(types("val password: String = \"exord13Paw64\",") == ["password_assignment"])
        #expect(types("SECRET KEY:AIhq5Xyb1Gga9Q3") == ["generic_secret"])
        #expect(types("ALTER USER 'haproxy'@'%' IDENTIFIED BY 'SqLpa5sW0rD';") == ["password_assignment"])
        #expect(types("CREATE USER foo WITH ENCRYPTED PASSWORD 'SqLpa5sW0rD' CREATEDB;") == ["password_assignment"])
        #expect(types("\"password\": \"dkajco1\"") == ["password_assignment"])
        #expect(types("password: !vault |").isEmpty)
        #expect(types("the password is required").isEmpty)
        #expect(types("if password == \"q4c1a2oPd\":").isEmpty)
        #expect(types("page.action?spaceKey=LOGIC&title=QUANTUM").isEmpty)
        #expect(types("MYSQLPASS: Ce7shE0ENPiBlE_EdEose0cBAA") == ["password_assignment"])
        #expect(types("export GITHUB_TOKEN=ghp_4Jd8s2KqLm9Xv3Tb7Wn1Pz6Yc5Rf0Hg2Ea8U") == ["github_token"])  // not also generic
        #expect(types("BYPASS: true").isEmpty)
        #expect(types("'access_key' => '8zBhTTWfBKWP9hJ8wunD7zMaEvWOGg',") == ["generic_secret"])
        #expect(types("define( 'PASSWORD' , '2Arh5dA1Sn0ywiVYdnpwr3aLzZDJPNG' );") == ["password_assignment"])
        #expect(types("<password name=\"password\">cackle!</password>") == ["password_assignment"])
        #expect(types("<password/> and <password>changeme</password>").isEmpty)
        #expect(types("min(password, 'abcdefgh1')").isEmpty)
        #expect(types("app_secret=my-client-password&code=1").isEmpty)
        #expect(types("DB_PASSWORD=your_password_here").isEmpty)
        #expect(types("<password>peace_for_ukraine</password>") == ["password_assignment"])
        #expect(types("password = \"0xAb19D82E7f546cC3\"").isEmpty)
        #expect(types("\"key\":\"f45VgF8jX79o@anydata.com\"") == ["email"])
    }

    @Test("cards, IBANs and phones from the PII corpus: 12-digit Maestro and lower-case IBANs need their keyword; dates are not phones")
    func pii() {
        #expect(types("What is the limit for card 501864667909?") == ["credit_card"])
        #expect(types("reference 501864667909").isEmpty)
        #expect(types("Please block card no 213175197796454") == ["credit_card"])  // JCB legacy 15-digit range
        #expect(types("my iban is gb42nawi04454264788619") == ["iban"])
        #expect(types("token gb42nawi04454264788619").isEmpty)
        #expect(types("Date: 1978-04-13 12:20:39\nName: Toshimi Arata\nPhone: 555").isEmpty)
    }

    @Test("HTML attribute values are scanned (links with tokens, form values)")
    func htmlAttributes() {
        let html = #"<html><body><a href="https://example.com/?token=g1re0g1T0keN3zWx7">x</a><input value="SSN 536-22-1904"></body></html>"#
        #expect(ContentScanner().scan(Data(html.utf8)).findings.map(\.type).contains("us_ssn"))
    }
}

@Suite("Content classifier: large content")
struct LargeContentTests {
    @Test("values straddling the classifier's block boundaries are found once, with their keywords")
    func blockBoundaries() {
        let block = 64 * 1024  // any large offsets; also the two matcher streams meet in the middle
        var text = [UInt8](repeating: UInt8(ascii: " "), count: block * 3)
        func put(_ value: String, endingAt end: Int) {
            let bytes = Array(value.utf8)
            text.replaceSubrange((end - bytes.count)..<end, with: bytes)
        }
        put("card 4556 7375 8689 9855 ", endingAt: block + 12)          // the number crosses the first boundary
        put(" jane.doe@example.org ", endingAt: 2 * block + 10)          // the address crosses the second
        put(" SSN 536-22-1904 ", endingAt: 2 * block + 500)
        put(" +44 20 7946 0958 ", endingAt: block * 3 - 1)
        let result: ScanResult = text.withUnsafeBytes { ContentClassifier().scan($0) }
        let findings: [Finding] = result.findings
        let types: [String] = findings.map { $0.type }
        #expect(types == ["credit_card", "email", "phone", "us_ssn"])
        #expect(findings.allSatisfy { $0.count == 1 })
        let card: Finding? = findings.first { $0.type == "credit_card" }
        #expect(card?.confidence == 85)
        let start = card?.matches.first?.start ?? 0
        let end = card?.matches.first?.end ?? 0
        #expect(start < block && end > block)
    }
}
