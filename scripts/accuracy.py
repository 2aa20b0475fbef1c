#!/usr/bin/env python3
"""Precision and recall of Bulwark's classifier against the labelled corpora in
../shared/corpora, side by side with presidio-analyzer (pattern recognizers) and detect-secrets
on the same texts (docs/BENCHMARKS.md records the output).

    pip install presidio-analyzer detect-secrets     # the peers (test tooling only)
    swift build -c release --product bulwark-bench
    python3 scripts/accuracy.py [--bench .build/release/bulwark-bench] [--corpora ../shared/corpora] [--details]

Matching: on the PII corpus a prediction is a true positive when it overlaps a labelled span of
the same type (character offsets); unlabelled predictions are false positives, unmatched labels
false negatives. On the CredSweeper corpus (a tool's expected output, not human ground truth)
a finding counts at line level: our secret finding on a line CredSweeper lists is a true
positive; `--details` prints every disagreement for review.
"""
import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict

PII_TYPES = {  # corpus label -> our type ids
    "CREDIT_CARD": {"credit_card"},
    "US_SSN": {"us_ssn"},
    "IBAN_CODE": {"iban"},
    "EMAIL_ADDRESS": {"email"},
    "PHONE_NUMBER": {"phone"},
    "IP_ADDRESS": {"ipv4", "ipv6"},
}
SECRET_TYPES = {
    "aws_access_key_id", "aws_secret_access_key", "github_token", "gitlab_token", "slack_token", "slack_webhook",
    "openai_api_key", "anthropic_api_key", "google_api_key", "stripe_key", "azure_storage_key", "private_key", "jwt",
    "password_in_url", "password_assignment", "generic_secret",
}
# CredSweeper rule -> our type for the rules that name one of our secret types.
CREDSWEEPER_RULES = {
    "AWS Client ID": "aws_access_key_id", "AWS Multi": "aws_access_key_id",
    "Github Classic Token": "github_token", "Github Fine-granted Token": "github_token",
    "Github App Installation Token": "github_token", "Gitlab Prefix Token": "gitlab_token",
    "Slack Token": "slack_token", "Slack Webhook": "slack_webhook", "OpenAI Token": "openai_api_key",
    "Anthropic API Key": "anthropic_api_key", "Google API Key": "google_api_key", "Stripe Credentials": "stripe_key",
    "Azure Storage Account Key": "azure_storage_key", "PEM Private Key": "private_key", "JSON Web Token": "jwt",
    "URL Credentials": "password_in_url", "Password": "password_assignment", "SQL Password": "password_assignment",
    "Secret": "generic_secret", "Token": "generic_secret", "Key": "generic_secret",
}
SSN_KEYWORD = re.compile(r"\b(ssn|ssns|ss#|social security|soc sec)\b", re.I)


def byte_to_char(text):
    """Map UTF-8 byte offsets to str offsets."""
    mapping = {}
    offset = 0
    for index, char in enumerate(text):
        mapping[offset] = index
        offset += len(char.encode("utf-8"))
    mapping[offset] = len(text)
    return mapping


def run_bulwark(bench, items):
    """items: dicts with id and text or path -> {id: result}."""
    payload = "".join(json.dumps(item) + "\n" for item in items)
    out = subprocess.run([bench, "classify-lines"], input=payload.encode(), capture_output=True, check=True).stdout
    return {r["id"]: r for r in map(json.loads, out.decode().splitlines())}


def presidio_recognizers():
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IbanRecognizer,
                                                          IpRecognizer, PhoneRecognizer, UsSsnRecognizer)
    return [CreditCardRecognizer(), UsSsnRecognizer(), IbanRecognizer(), EmailRecognizer(), PhoneRecognizer(), IpRecognizer()]


def run_presidio(recognizers, text):
    found = []
    for recognizer in recognizers:
        for result in recognizer.analyze(text, recognizer.supported_entities, None):
            found.append((result.entity_type, result.start, result.end))
    return found


def run_detect_secrets(paths):
    """path -> [(line, type)] with detect-secrets' default plugins and filters."""
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings
    results = defaultdict(list)
    with default_settings():
        secrets = SecretsCollection()
        for path in paths:
            secrets.scan_file(path)
        for filename, secret in secrets:
            results[os.path.realpath(filename)].append((secret.line_number, secret.type))
    return results


class Tally:
    def __init__(self):
        self.tp = self.fp = self.fn = 0

    def row(self):
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")
        return precision, recall


def overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


def pii(args, bench):
    samples = []
    for name in ("synth_dataset_v2.json", "generated_large.json"):
        with open(os.path.join(args.corpora, "presidio-research", name)) as handle:
            for index, sample in enumerate(json.load(handle)):
                samples.append((f"{name}:{index}", sample))
    ours = run_bulwark(bench, [{"id": sid, "text": sample["full_text"]} for sid, sample in samples])
    recognizers = presidio_recognizers()
    with tempfile.TemporaryDirectory() as scratch:
        paths = {}
        for sid, sample in samples:
            path = os.path.join(scratch, sid.replace(":", "_") + ".txt")
            with open(path, "w") as handle:
                handle.write(sample["full_text"])
            paths[sid] = os.path.realpath(path)
        detect = run_detect_secrets(paths.values())

    tallies = {tool: defaultdict(Tally) for tool in ("bulwark", "presidio")}
    ssn_keyword = {tool: Tally() for tool in ("bulwark", "presidio")}
    secret_fp = {"bulwark": 0, "detect-secrets": 0}
    details = []
    for sid, sample in samples:
        text = sample["full_text"]
        gold = [(s["entity_type"], s["start_position"], s["end_position"]) for s in sample["spans"] if s["entity_type"] in PII_TYPES]
        chars = byte_to_char(text)
        predictions = {"bulwark": [], "presidio": []}
        for hit in ours[sid]["findings"]:
            if hit["type"] in SECRET_TYPES:
                secret_fp["bulwark"] += 1
                details.append(f"bulwark secret on PII text {sid}: {hit['type']} {text[chars[hit['start']]:chars[hit['end']]]!r}")
            label = next((label for label, types in PII_TYPES.items() if hit["type"] in types), None)
            if label:
                predictions["bulwark"].append((label, chars[hit["start"]], chars[hit["end"]]))
        predictions["presidio"] = run_presidio(recognizers, text)
        secret_fp["detect-secrets"] += len(detect.get(paths[sid], []))
        for tool, found in predictions.items():
            for label in PII_TYPES:
                g = [(s, e) for t, s, e in gold if t == label]
                p = [(s, e) for t, s, e in found if t == label]
                tally = tallies[tool][label]
                matched_gold = [any(overlap(x, y) for y in p) for x in g]
                tally.tp += sum(matched_gold)
                tally.fn += len(g) - sum(matched_gold)
                tally.fp += sum(1 for y in p if not any(overlap(x, y) for x in g))
                if label == "US_SSN":
                    for span, hit in zip(g, matched_gold):
                        if SSN_KEYWORD.search(text[max(0, span[0] - 300):span[1] + 300]):
                            ssn_keyword[tool].tp += hit
                            ssn_keyword[tool].fn += not hit
                if tool == "bulwark" and args.details:
                    for span, hit in zip(g, matched_gold):
                        if not hit:
                            details.append(f"missed {label} {text[span[0]:span[1]]!r} in {sid}: {text[max(0, span[0] - 60):span[1] + 30]!r}")
                    for y in p:
                        if not any(overlap(x, y) for x in g):
                            details.append(f"extra {label} {text[y[0]:y[1]]!r} in {sid}: {text[max(0, y[0] - 60):y[1] + 30]!r}")

    print(f"## PII corpus (presidio-research, {len(samples)} texts)\n")
    print("| type | gold | Bulwark P | Bulwark R | presidio P | presidio R | Bulwark FP | presidio FP |")
    print("|---|---|---|---|---|---|---|---|")
    for label in PII_TYPES:
        b, p = tallies["bulwark"][label], tallies["presidio"][label]
        bp, br = b.row()
        pp, pr = p.row()
        print(f"| {label} | {b.tp + b.fn} | {bp:.3f} | {br:.3f} | {pp:.3f} | {pr:.3f} | {b.fp} | {p.fp} |")
    bk, pk = ssn_keyword["bulwark"], ssn_keyword["presidio"]
    print(f"| US_SSN with an SSN keyword within 300 chars | {bk.tp + bk.fn} | | {bk.row()[1]:.3f} | | {pk.row()[1]:.3f} | | |")
    print(f"\nSecret findings on this PII-only corpus (all false positives): Bulwark {secret_fp['bulwark']}, "
          f"detect-secrets {secret_fp['detect-secrets']}.\n")
    return details


def secrets(args, bench):
    root = os.path.join(args.corpora, "credsweeper")
    with open(os.path.join(root, "expected.json")) as handle:
        expected = json.load(handle)
    listed = defaultdict(set)      # path -> lines CredSweeper reports (any rule)
    texts = defaultdict(dict)      # path -> line -> CredSweeper's copy of the line
    mapped = defaultdict(dict)     # path -> line -> our type, for rules that name one of ours
    for finding in expected:
        for line in finding["line_data_list"]:
            path = os.path.realpath(os.path.join(root, "samples", os.path.basename(line["path"])))
            listed[path].add(line["line_num"])
            texts[path][line["line_num"]] = line.get("line") or ""
            if finding["rule"] in CREDSWEEPER_RULES:
                mapped[path][line["line_num"]] = CREDSWEEPER_RULES[finding["rule"]]
    files = sorted(os.path.realpath(os.path.join(root, "samples", name)) for name in os.listdir(os.path.join(root, "samples")))
    ours = run_bulwark(bench, [{"id": path, "path": path} for path in files])
    detect = run_detect_secrets(files)

    per_type = defaultdict(Tally)
    any_type = {"bulwark": Tally(), "detect-secrets": Tally()}
    details = []
    uncovered = defaultdict(int)  # our findings in files CredSweeper's expected output has nothing for
    binary = re.compile(r"\.(zip|tar|gz|bz2|rpm|deb|jar|docx|xlsx|xls|pptx|ods|odt|pdf|jpg|gif|png|tiff|elf|pak|class|jks|eml|apk)$|\.n\.encrypted")
    for path in files:
        # Our findings as (types, covered lines, value). Archives and binaries are extracted, so
        # their line numbers differ from CredSweeper's: a finding also agrees when its value is
        # in a line CredSweeper reports for the file.
        found = []
        for hit, (first, last) in zip(ours[path]["findings"], ours[path]["lines"]):
            if hit["type"] in SECRET_TYPES:
                found.append((hit["type"], set(range(first, last + 1)), hit["value"].split("\n")[0][:60]))

        def agrees(lines, value):
            return bool(lines & listed[path]) or any(value and value in text for text in texts[path].values())

        def covers(line, kinds=None):
            return any((kinds is None or kind in kinds) and (line in lines or (value and value in texts[path][line]))
                       for kind, lines, value in found)

        for kind, lines, value in found:
            if not listed[path] and (binary.search(path) or ours[path].get("format") not in ("text", None)):
                # Archives, documents and binaries whose lines CredSweeper's expected output
                # does not cover (it scans them only with --depth): counted apart, not as FP.
                uncovered[kind] += 1
                details.append(f"uncovered by CredSweeper: {os.path.basename(path)}:{min(lines)} {kind} {value[:24]!r}…")
                continue
            hit = agrees(lines, value)
            any_type["bulwark"].tp += hit
            any_type["bulwark"].fp += not hit
            per_type[kind].tp += hit
            per_type[kind].fp += not hit
            if not hit:
                details.append(f"bulwark only: {os.path.basename(path)}:{min(lines)} {kind}")
        for line, kind in mapped[path].items():
            if not covers(line, {kind}):
                per_type[kind].fn += 1
                details.append(f"missed {kind}: {os.path.basename(path)}:{line} {texts[path][line][:100]!r}")
        any_type["bulwark"].fn += sum(1 for line in listed[path] if not covers(line))
        ds_lines = {line for line, _ in detect.get(path, [])}
        any_type["detect-secrets"].tp += len(ds_lines & listed[path])
        any_type["detect-secrets"].fp += len(ds_lines - listed[path])
        any_type["detect-secrets"].fn += len(listed[path] - ds_lines)

    print(f"## Secrets corpus (CredSweeper samples, {len(files)} files, {sum(map(len, listed.values()))} expected lines)\n")
    print("Line-level agreement with CredSweeper's expected findings (all its rules, many of which name")
    print("services Bulwark has no type for):\n")
    print("| tool | findings agreeing (TP) | findings CredSweeper lacks (FP) | CredSweeper lines missed | precision | recall |")
    print("|---|---|---|---|---|---|")
    for tool, tally in any_type.items():
        p, r = tally.row()
        print(f"| {tool} | {tally.tp} | {tally.fp} | {tally.fn} | {p:.3f} | {r:.3f} |")
    print(f"\nNot counted above: {sum(uncovered.values())} Bulwark findings in archives, documents and binaries for which")
    print(f"CredSweeper's expected output lists nothing ({', '.join(f'{k} {v}' for k, v in sorted(uncovered.items()))}).")
    print("\nPer Bulwark secret type (recall over CredSweeper rules that name the type):\n")
    print("| type | TP | FP | FN | precision | recall |")
    print("|---|---|---|---|---|---|")
    for kind in sorted(per_type):
        tally = per_type[kind]
        p, r = tally.row()
        print(f"| {kind} | {tally.tp} | {tally.fp} | {tally.fn} | {p:.3f} | {r:.3f} |")
    print()
    return details


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    parser.add_argument("--bench", default=os.path.join(here, ".build", "release", "bulwark-bench"))
    parser.add_argument("--corpora", default=os.path.join(os.path.dirname(here), "shared", "corpora"))
    parser.add_argument("--details", action="store_true", help="print every disagreement")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # tldextract (presidio's e-mail check) warns it is offline
    if not os.path.exists(args.bench):
        sys.exit(f"{args.bench} not found: swift build -c release --product bulwark-bench")
    details = pii(args, args.bench) + secrets(args, args.bench)
    if args.details:
        print("## Disagreements\n")
        for line in details:
            print("- " + line)


if __name__ == "__main__":
    main()
