"""CPU to sign one election SOAP answer and a 1,000-item VerifyCertificates answer, in process.

    .venv/bin/python bench/profile_soap_signing.py [ROUNDS]

"payload signature": the enveloped XML-DSig over the payload's canonical bytes, spliced into the
envelope (how answers were signed until they moved to WS-Security; the bulk report is still
signed so). "WS-Security": what a signed SOAP answer costs now: the rendered payload parsed into
the envelope tree, certs.wssecurity signs Body and Timestamp (signxml), the envelope serialised.
Both sign with the same development evidence key (ECDSA P-256); keys are made in a temp dir.
Medians of process time, so that other load on the machine counts less.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.soap.payload import RenderedPayload, leaf, rendered_payload
from lxml import etree

from certs.keys import KeyRing
from certs.wssecurity import message_signer
from certs.xmldsig import canonical_signature
from hub.soap.envelope import SOAP11, envelope_bytes, signed_envelope_response

NS = "urn:discom-hub:election:1"


def result(tag: str, i: int) -> str:
    """A valid certificate's verification, the shape and size of a real one (Devanagari name)."""
    return (
        f"<e:{tag}>"
        + leaf("e:number", f"NDC/BPL/2026-27/{i:06d}")
        + leaf("e:status", "valid")
        + leaf("e:kind", "no_dues")
        + leaf("e:holder_name", "किरण शर्मा")
        + leaf("e:issuer_office", "भोपाल शहर वृत्त (DIV-BPL-1)")
        + "<e:connections><e:connection>"
        + leaf("e:consumer_number", str(1234500000 + i))
        + leaf("e:dues", "0.00")
        + leaf("e:meter_status", "ok")
        + "</e:connection></e:connections>"
        + leaf("e:no_connection", "false")
        + "<e:purpose>"
        + leaf("e:description", "Nomination, municipal election")
        + leaf("e:election", "Nagar Nigam 2026")
        + leaf("e:ward", "14")
        + "</e:purpose>"
        + leaf("e:issued_at", "2026-12-04T10:00:00+00:00")
        + leaf("e:valid_until", "2027-03-04T10:00:00+00:00")
        + f"</e:{tag}>"
    )


def answer(items: int) -> RenderedPayload:
    head = leaf("e:answered_at", "2026-12-04T11:00:00.123456+00:00")
    if items == 0:
        return rendered_payload("e", NS, "VerifyCertificateResponse", head + result("result", 0))
    batch = [f"<e:item><e:index>{i}</e:index>{result('result', i)}</e:item>" for i in range(items)]
    return rendered_payload("e", NS, "VerifyCertificatesResponse", [head, leaf("e:count", items), *batch])


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    keyring, _created = KeyRing.ensure_development(Path(tempfile.mkdtemp()))
    sign_message = message_signer(keyring).sign

    def payload_signature(payload: RenderedPayload) -> bytes:
        signature = canonical_signature(payload.data, keyring)
        assert signature is not None
        return envelope_bytes(SOAP11, payload.parts_with_child(signature))

    def ws_security(payload: RenderedPayload) -> bytes:
        return bytes(signed_envelope_response(SOAP11, etree.fromstring(payload.data), sign_message).body)

    contenders: list[tuple[str, Callable[[RenderedPayload], bytes]]] = [
        ("payload signature", payload_signature),
        ("WS-Security", ws_security),
    ]
    for label, items, repeat in (("one answer", 0, rounds * 10), ("1,000-item answer", 1000, rounds)):
        payload = answer(items)
        times: dict[str, list[float]] = {name: [] for name, _ in contenders}
        sizes: dict[str, int] = {}
        for _ in range(repeat):  # alternated, so both see the same machine state
            for name, sign in contenders:
                start = time.process_time()
                sizes[name] = len(sign(payload))
                times[name].append((time.process_time() - start) * 1000)
        for name, _ in contenders:
            print(
                f"{label:18} {name:18} median {statistics.median(times[name]):7.2f} ms"
                f"  ({len(payload.data):,} B payload, {sizes[name]:,} B answer)"
            )


if __name__ == "__main__":
    main()
