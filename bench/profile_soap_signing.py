"""CPU to build and sign one election SOAP answer and a 1,000-item VerifyCertificates answer, in process.

    .venv/bin/python bench/profile_soap_signing.py [ROUNDS]

Each answer is built as the hub builds it (hub.election.soap: an lxml tree from the verification
results), then signed two ways: "WS-Security", as a signed SOAP answer is (certs.wssecurity signs
Body and Timestamp, the envelope serialised), and "report signature", as the bulk job's result.xml
is (enveloped XML-DSig with the evidence key, certs.xmldsig). Both with the same development
evidence key (ECDSA P-256); keys are made in a temp dir. Medians of process time, so that other
load on the machine counts less.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree

from certs.keys import KeyRing
from certs.wssecurity import message_signer
from certs.xmldsig import sign_element
from hub.certificates.verification import BatchItem, RegistryEntry, VerificationResult
from hub.election.answers import NSMAP, E, batch_element, result_element
from hub.soap.envelope import SOAP11, signed_envelope_response

ISSUED = datetime(2026, 12, 4, 10, tzinfo=UTC)
SUMMARY = {
    "kind": "no_dues_certificate",
    "holder_name": "किरण शर्मा (Kiran Sharma)",
    "issuer_office": "भोपाल शहर वृत्त (DIV-BPL-1)",
    "connections": [{"consumer_number": "4512300001", "dues": "0.00", "meter_status": "healthy"}],
    "no_connection": False,
    "purpose": {"election": "Nagar Nigam 2026", "body": "Nagar Nigam Bhopal", "ward": "14"},
}


def result(i: int) -> VerificationResult:
    number = f"MPCZ/ND/2026-27/{i:07d}"
    entry = RegistryEntry(
        i, number, "valid", ISSUED, ISSUED + timedelta(days=90), "0" * 64, None, SUMMARY, "0" * 64
    )
    return VerificationResult("valid", number, entry)


def single() -> etree._Element:
    root = etree.Element(E + "VerifyCertificateResponse", nsmap=NSMAP)
    etree.SubElement(root, E + "answered_at").text = ISSUED.isoformat()
    result_element(root, "result", result(1).as_dict())
    return root


def batch() -> etree._Element:
    items = [BatchItem(i, None, result(i)) for i in range(1000)]
    return batch_element("VerifyCertificatesResponse", items, ISSUED)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    keyring, _created = KeyRing.ensure_development(Path(tempfile.mkdtemp()))
    sign_message = message_signer(keyring).sign

    def built(make: Callable[[], etree._Element]) -> bytes:
        return etree.tostring(make())

    def ws_security(make: Callable[[], etree._Element]) -> bytes:
        return bytes(signed_envelope_response(SOAP11, make(), sign_message).body)

    def report(make: Callable[[], etree._Element]) -> bytes:
        return etree.tostring(sign_element(make(), keyring))

    contenders: list[tuple[str, Callable[[Callable[[], etree._Element]], bytes]]] = [
        ("tree only", built),
        ("WS-Security", ws_security),
        ("report signature", report),
    ]
    for label, make, repeat in (("one answer", single, rounds * 10), ("1,000-item answer", batch, rounds)):
        times: dict[str, list[float]] = {name: [] for name, _ in contenders}
        sizes: dict[str, int] = {}
        for _ in range(repeat):  # alternated, so all see the same machine state
            for name, sign in contenders:
                start = time.process_time()
                sizes[name] = len(sign(make))
                times[name].append((time.process_time() - start) * 1000)
        for name, _ in contenders:
            print(
                f"{label:18} {name:18} median {statistics.median(times[name]):7.2f} ms  ({sizes[name]:,} B)"
            )


if __name__ == "__main__":
    main()
