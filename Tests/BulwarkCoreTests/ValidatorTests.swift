import BulwarkCore
import Testing

/// Valid samples were checked with python-stdnum, an independent implementation; each invalid
/// sample differs from a valid one in one place.
@Suite("Validators")
struct ValidatorTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("payment cards: issuer ranges, lengths, Luhn; public test numbers are not leaks", arguments: [
        ("4526018159083012", true), ("5166131860913906", true), ("2221996030824625", true), ("378194821993511", true),
        ("6011819093786579", true), ("3530975432319487", true), ("36757491186253", true), ("6227601895559796", true),
        ("6759711471049744", true),
        ("4526018159083013", false),  // Luhn
        ("9526018159083012", false),  // no issuer
        ("452601815908301", false),   // Visa of length 15
        ("4242424242424242", false), ("4111111111111111", false), ("5555555555554444", false), ("378282246310005", false),
    ])
    func cards(number: String, valid: Bool) {
        #expect(Validators.creditCard(bytes(number)) == valid)
    }

    @Test("issuers are told apart")
    func issuers() {
        #expect(Validators.cardIssuer(bytes("4526018159083012")) == .visa)
        #expect(Validators.cardIssuer(bytes("2221996030824625")) == .mastercard)
        #expect(Validators.cardIssuer(bytes("378194821993511")) == .amex)
        #expect(Validators.cardIssuer(bytes("6011819093786579")) == .discover)
        #expect(Validators.cardIssuer(bytes("3530975432319487")) == .jcb)
        #expect(Validators.cardIssuer(bytes("36757491186253")) == .diners)
        #expect(Validators.cardIssuer(bytes("6227601895559796")) == .discover)  // 622126–622925 is Discover's
        #expect(Validators.cardIssuer(bytes("6212345678901232")) == .unionpay)
        #expect(Validators.cardIssuer(bytes("6759711471049744")) == .maestro)
    }

    @Test("US SSN issuance rules", arguments: [
        ("536221904", true), ("000221904", false), ("666221904", false), ("936221904", false), ("536001904", false),
        ("536220000", false), ("078051120", false), ("123456789", false), ("53622190", false),
    ])
    func ssn(number: String, valid: Bool) {
        #expect(Validators.usSSN(bytes(number)) == valid)
    }

    @Test("IBAN: country length and mod 97", arguments: [
        ("GB82WEST12345698765432", true), ("DE89370400440532013000", true), ("NL91ABNA0417164300", true),
        ("DE89370400440532013001", false), ("GB82WEST1234569876543", false), ("XX82WEST12345698765432", false),
        ("GB00WEST12345698765432", false),
    ])
    func iban(number: String, valid: Bool) {
        #expect(Validators.iban(bytes(number)) == valid)
    }

    @Test("national identifiers", arguments: [
        ("uk_nino", "AB123456C", true), ("uk_nino", "QQ123456C", false), ("uk_nino", "GB123456A", false), ("uk_nino", "AB123456E", false),
        ("uk_nhs", "9434765919", true), ("uk_nhs", "4010232137", true), ("uk_nhs", "9434765918", false),
        ("ca_sin", "130692544", true), ("ca_sin", "193456787", true), ("ca_sin", "130692545", false), ("ca_sin", "046454286", false),
        ("de_tax_id", "86095742719", true), ("de_tax_id", "47036892816", true), ("de_tax_id", "86095742718", false), ("de_tax_id", "12345678901", false),
        ("fr_insee", "255081416802538", true), ("fr_insee", "184127645108946", true), ("fr_insee", "255081416802539", false),
        ("es_dni", "12345678Z", true), ("es_dni", "X1234567L", true), ("es_dni", "12345678A", false),
        ("it_fiscal_code", "RSSMRA85T10A562S", true), ("it_fiscal_code", "MRTMTT91D08F205J", true), ("it_fiscal_code", "RSSMRA85T10A562T", false),
        ("nl_bsn", "111222333", true), ("nl_bsn", "123456782", true), ("nl_bsn", "123456789", false),
        ("in_aadhaar", "234123412346", true), ("in_aadhaar", "499118665246", true), ("in_aadhaar", "234123412347", false), ("in_aadhaar", "134123412346", false),
        ("au_tfn", "123456782", true), ("au_tfn", "459599230", true), ("au_tfn", "87654321", true), ("au_tfn", "123456789", false), ("au_tfn", "87654322", false),
    ])
    func nationalIDs(type: String, number: String, valid: Bool) {
        let check: ([UInt8]) -> Bool = switch type {
        case "uk_nino": Validators.ukNINO
        case "uk_nhs": Validators.ukNHS
        case "ca_sin": Validators.caSIN
        case "de_tax_id": Validators.deTaxID
        case "fr_insee": Validators.frINSEE
        case "es_dni": Validators.esDNI
        case "it_fiscal_code": Validators.itFiscalCode
        case "nl_bsn": Validators.nlBSN
        case "in_aadhaar": Validators.inAadhaar
        default: Validators.auTFN
        }
        #expect(check(bytes(number)) == valid, "\(type) \(number)")
    }
}
