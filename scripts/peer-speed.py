#!/usr/bin/env python3
"""Throughput of the peer classifiers on one text file, for `bulwark-bench classify --peers`.

Prints one JSON object: {"detect-secrets": MB/s, "presidio-analyzer": MB/s} for the peers that
are installed (pip install detect-secrets presidio-analyzer). Each peer gets the same text;
detect-secrets scans the file line by line with its default plugins, presidio runs its
pattern recognizers (cards, SSNs, IBANs, e-mail, phone, IP) over the whole text.
"""
import json
import logging
import sys
import time

logging.disable(logging.CRITICAL)


def detect_secrets_speed(path, size):
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings
    with default_settings():
        start = time.perf_counter()
        SecretsCollection().scan_file(path)
        return size / 1e6 / (time.perf_counter() - start)


def presidio_speed(text, size):
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IbanRecognizer,
                                                          IpRecognizer, PhoneRecognizer, UsSsnRecognizer)
    recognizers = [CreditCardRecognizer(), UsSsnRecognizer(), IbanRecognizer(), EmailRecognizer(), PhoneRecognizer(), IpRecognizer()]
    start = time.perf_counter()
    for recognizer in recognizers:
        recognizer.analyze(text, recognizer.supported_entities, None)
    return size / 1e6 / (time.perf_counter() - start)


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    size = len(text.encode("utf-8"))
    result = {}
    for name, run in (("detect-secrets", lambda: detect_secrets_speed(path, size)), ("presidio-analyzer", lambda: presidio_speed(text, size))):
        try:
            result[name] = run()
        except ImportError:
            pass
    print(json.dumps(result))


if __name__ == "__main__":
    main()
