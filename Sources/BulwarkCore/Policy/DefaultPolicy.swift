/// The policy an agent enforces until the collector sends another: it protects out of the box
/// (docs/POLICY.md explains each rule). `bulwark-agent policy default` prints it as a starting
/// point for a deployment's own.
public enum DefaultPolicy {
    public static let yaml = """
    # Bulwark default DLP policy (version 1). See docs/POLICY.md.
    version: 1
    name: bulwark-default
    rules:
      - id: block-secrets-to-ai
        description: Credentials and private keys never go to consumer AI or AI coding tools.
        when:
          types: [aws_access_key_id, aws_secret_access_key, github_token, gitlab_token, slack_token, slack_webhook,
                  openai_api_key, anthropic_api_key, google_api_key, stripe_key, azure_storage_key, private_key,
                  jwt, password_in_url, password_assignment, generic_secret, credential_file]
          min_confidence: high
        activities: [paste, file_upload]
        destinations:
          categories: [consumer_ai, ai_coding, ai_image, ai_media, ai_browser_extension]
        action: block
        message: This content contains a credential or private key. Remove it before sharing with an AI app.
        helpdesk: Secrets are never excepted; ask the user to rotate the credential if it was exposed elsewhere.

      - id: block-secrets-to-ai-tools
        description: AI tools on this machine (coding agents, local LLMs) may not read credentials, private keys or credential files.
        when:
          types: [aws_access_key_id, aws_secret_access_key, github_token, gitlab_token, slack_token, slack_webhook,
                  openai_api_key, anthropic_api_key, google_api_key, stripe_key, azure_storage_key, private_key,
                  jwt, password_in_url, password_assignment, generic_secret, credential_file]
          min_confidence: high
        activities: [file_read_by_ai_tool]
        action: block
        message: This file holds credentials that AI tools may not read.
        helpdesk: Secrets are never excepted; keep keys out of the tool's working directory.

      - id: block-high-confidence-pii-to-consumer-ai
        description: Payment cards, SSNs, bank accounts and national identifiers validated with supporting evidence.
        when:
          types: [credit_card, us_ssn, iban, uk_nino, uk_nhs, ca_sin, de_tax_id, fr_insee, es_dni, it_fiscal_code,
                  nl_bsn, in_aadhaar, au_tfn]
          min_confidence: high
        activities: [paste, file_upload]
        destinations:
          categories: [consumer_ai, ai_image, ai_media, ai_browser_extension]
        action: block
        message: This content contains personal or payment data that may not be shared with consumer AI apps.
        helpdesk: A time-boxed exception can be granted per user and app if there is a business need.

      - id: block-high-confidence-pii-to-ai-tools
        description: AI tools on this machine (coding agents, local LLMs) may not read files with validated personal or payment data.
        when:
          types: [credit_card, us_ssn, iban, uk_nino, uk_nhs, ca_sin, de_tax_id, fr_insee, es_dni, it_fiscal_code,
                  nl_bsn, in_aadhaar, au_tfn]
          min_confidence: high
        activities: [file_read_by_ai_tool]
        action: block
        message: This file contains personal or payment data that AI tools may not read.
        helpdesk: Move the data out of the tool's reach, or grant a time-boxed exception for the user and tool.

      - id: warn-medium-confidence-to-consumer-ai
        description: Likely sensitive data without supporting evidence; the user may continue with a justification.
        when:
          types: [credit_card, us_ssn, iban, uk_nino, uk_nhs, ca_sin, de_tax_id, fr_insee, es_dni, it_fiscal_code,
                  nl_bsn, in_aadhaar, au_tfn, aws_access_key_id, aws_secret_access_key, github_token, gitlab_token,
                  slack_token, slack_webhook, openai_api_key, anthropic_api_key, google_api_key, stripe_key,
                  azure_storage_key, private_key, jwt, password_in_url, password_assignment, generic_secret]
          min_confidence: medium
        activities: [paste, file_upload]
        destinations:
          categories: [consumer_ai, ai_image, ai_media, ai_browser_extension]
        action: warn
        message: This content may contain sensitive data. Continue only if sharing it is allowed, and say why.

      - id: block-medium-confidence-to-consumer-ai-for-risky-users
        description: Adaptive protection. For a user whose recent incidents raised their risk level, what would be a warning is a block.
        when:
          types: [credit_card, us_ssn, iban, uk_nino, uk_nhs, ca_sin, de_tax_id, fr_insee, es_dni, it_fiscal_code,
                  nl_bsn, in_aadhaar, au_tfn, aws_access_key_id, aws_secret_access_key, github_token, gitlab_token,
                  slack_token, slack_webhook, openai_api_key, anthropic_api_key, google_api_key, stripe_key,
                  azure_storage_key, private_key, jwt, password_in_url, password_assignment, generic_secret]
          min_confidence: medium
        activities: [paste, file_upload]
        destinations:
          categories: [consumer_ai, ai_image, ai_media, ai_browser_extension]
        scope:
          risk: [elevated, high]
        action: block
        message: Several recent blocks raised your risk level, so content that would be a warning is blocked for now. Contact helpdesk if you need to share it.
        helpdesk: See the user's recent incidents (bulwark risk); the level falls by itself after 24 quiet hours, or grant a time-boxed exception.

      - id: warn-partial-scan-to-consumer-ai
        description: Content too large or too deeply nested to scan completely is not assumed clean.
        when:
          partial: true
        activities: [paste, file_upload]
        destinations:
          categories: [consumer_ai, ai_image, ai_media, ai_browser_extension]
        action: warn
        message: This content could not be fully checked. Continue only if it holds no sensitive data.

      - id: block-unsanctioned-apps
        description: Apps an administrator marked unsanctioned receive no sensitive data at all.
        when:
          types: [credit_card, us_ssn, iban, email, phone, uk_nino, uk_nhs, ca_sin, de_tax_id, fr_insee, es_dni,
                  it_fiscal_code, nl_bsn, in_aadhaar, au_tfn, aws_access_key_id, aws_secret_access_key, github_token,
                  gitlab_token, slack_token, slack_webhook, openai_api_key, anthropic_api_key, google_api_key, stripe_key,
                  azure_storage_key, private_key, jwt, password_in_url, password_assignment, generic_secret]
          min_confidence: medium
        activities: [paste, file_upload, file_read_by_ai_tool]
        destinations:
          sanction: [unsanctioned]
        action: block
        message: This AI app is not approved by your organisation for sensitive data.

      - id: block-unsanctioned-ai-tools
        description: AI tools an administrator marked unsanctioned do not start (local LLM runtimes, AI CLIs).
        when: {always: true}
        activities: [ai_tool_exec]
        destinations:
          sanction: [unsanctioned]
        action: block
        message: This AI tool is not approved by your organisation.
        helpdesk: The app's state is set on the collector (bulwark apps set-state); sanctioning it lets it start within a minute.

      - id: audit-monitored-ai-tools
        description: Starts of AI tools under monitoring are recorded.
        when: {always: true}
        activities: [ai_tool_exec]
        destinations:
          sanction: [monitored]
        action: audit

      - id: audit-sensitive-to-ai
        description: Everything else sensitive that reaches an AI destination is recorded for the inventory.
        when:
          types: [credit_card, us_ssn, iban, email, phone, uk_nino, uk_nhs, ca_sin, de_tax_id, fr_insee, es_dni,
                  it_fiscal_code, nl_bsn, in_aadhaar, au_tfn, aws_access_key_id, aws_secret_access_key, github_token,
                  gitlab_token, slack_token, slack_webhook, openai_api_key, anthropic_api_key, google_api_key, stripe_key,
                  azure_storage_key, private_key, jwt, password_in_url, password_assignment, generic_secret]
        action: audit
    """

    /// The parsed default policy.
    public static func policy() -> Policy {
        do {
            return try PolicyParser(source: "default policy").parse(yaml)
        } catch {
            // The text is a constant checked by the test suite; failing here is a build defect.
            preconditionFailure("the built-in default policy does not parse: \(error)")
        }
    }
}
