"""Issue cost vs the bare library calls on the same content, same process, same run.

    python bench/bench_certs.py [N]

For each of N documents: DocumentIssuer.issue() (build + XSD validation + XML-DSig + QR JWS +
PDF + PAdES), then the bare calls it is made of: lxml build + serialise, signxml enveloped sign
with the key object, reportlab Platypus render of the same story, pyHanko PAdES with the cached
key. Runs alternate so both sides see the same machine state. Keys are generated in a temp dir.

Then the SOAP evidence signature (signed on every SOAP answer): EvidenceSigner.sign() of
an election answer vs the bare cryptography ECDSA P-256 signature of the same canonical SignedInfo,
alternated in blocks (informational), and the RSA fallback (signxml with the document key) once.
"""

from __future__ import annotations

import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from reportlab.lib.pagesizes import A4
from reportlab.platypus import SimpleDocTemplate
from signxml import DigestAlgorithm, SignatureConstructionMethod, SignatureMethod, XMLSigner

from certs import pdf as certs_pdf
from certs.document import Check, Connection, Document, Holder, Issuer, Purpose, mask_mobile
from certs.issuer import DocumentIssuer
from certs.keys import KeyRing
from certs.pades import CachedKeySigner
from certs.xmldoc import build_xml
from certs.xmldsig import EXC_C14N, evidence_signer, sign_with_identity


def document(i: int) -> Document:
    t = dt.datetime(2026, 11, 20, 5, 0, tzinfo=dt.UTC)
    return Document(
        number=f"MPCZ/ND/2026-27/{i:06d}",
        kind="no_dues_certificate",
        verification_code=f"K7Q2-M9XD-{i:04d}",
        issuer=Issuer(
            "Madhya Pradesh Madhya Kshetra Vidyut Vitaran Co. Ltd.",
            "मध्य प्रदेश मध्य क्षेत्र विद्युत वितरण कंपनी लिमिटेड",
            "Distribution Centre Govindpura, Bhopal",
            "Smt. Anjali Verma",
            "Deputy General Manager",
            "उप महाप्रबंधक",
            "DC-BPL-017",
        ),
        holder=Holder("किरण शर्मा", "Kiran Sharma", "123456789", mask_mobile("9876543210")),
        issued_at=t,
        valid_until=t + dt.timedelta(days=30),
        verification_url=f"https://hub.example.in/verify/MPCZ-ND-2026-27-{i:06d}",
        connections=(
            Connection("N3456789012", Decimal("0"), t, "working"),
            Connection("N3456789013", Decimal("0"), t, "working"),
        ),
        checks=(
            Check("dues_outstanding", "passed", "NGB:bill:2026-11", t),
            Check("ekyc_complete", "passed", "KYC:1", t),
        ),
        purpose=Purpose("Nomination", "Panchayat General Election 2026", "Gram Panchayat Bhojpur", "Ward 7"),
    )


ELECTION_NS = "urn:discom-hub:election:1"


def election_answer(i: int) -> etree._Element:
    """A VerifyCertificateResponse as hub.election.soap writes it (valid, one connection, Devanagari)."""
    e = "{" + ELECTION_NS + "}"
    root = etree.Element(e + "VerifyCertificateResponse", nsmap={"e": ELECTION_NS})
    etree.SubElement(root, e + "answered_at").text = "2026-11-23T10:30:00.123456+00:00"
    result = etree.SubElement(root, e + "result")
    for name, value in (
        ("number", f"MPCZ/ND/2026-27/{i:06d}"),
        ("status", "valid"),
        ("kind", "no_dues_certificate"),
        ("holder_name", "किरण शर्मा (Kiran Sharma)"),
        ("issuer_office", "Distribution Centre Govindpura, Bhopal"),
    ):
        etree.SubElement(result, e + name).text = value
    connection = etree.SubElement(etree.SubElement(result, e + "connections"), e + "connection")
    for name, value in (("consumer_number", "N3456789012"), ("dues", "0"), ("meter_status", "working")):
        etree.SubElement(connection, e + name).text = value
    etree.SubElement(result, e + "no_connection").text = "false"
    for name, value in (
        ("issued_at", "2026-11-20T05:00:00+00:00"),
        ("valid_until", "2026-12-20T05:00:00+00:00"),
    ):
        etree.SubElement(result, e + name).text = value
    return root


def evidence_signature(keyring: KeyRing, rounds: int = 9, block: int = 400) -> None:
    """Print the evidence signature figure: per-signature medians over alternated blocks."""
    evidence = keyring.current.evidence
    if evidence is None:
        raise SystemExit("the development key ring has no evidence key")
    signer = evidence_signer(evidence)
    key = evidence.private_key
    algorithm = ec.ECDSA(hashes.SHA256())
    # The baseline signs exactly the bytes the signer signs: the canonical SignedInfo of an answer.
    sample = signer.sign(election_answer(0))
    signed_info = etree.tostring(sample[-1][0], method="c14n", exclusive=True)
    for i in range(50):  # warm-up: per-thread template, first-use caches on both sides
        signer.sign(election_answer(i))
        key.sign(signed_info, algorithm)

    def contender() -> float:
        payloads = [election_answer(i) for i in range(block)]  # signed in place: one each
        t = time.perf_counter()
        for payload in payloads:
            signer.sign(payload)
        return (time.perf_counter() - t) / block

    def baseline() -> float:
        t = time.perf_counter()
        for _ in range(block):
            key.sign(signed_info, algorithm)
        return (time.perf_counter() - t) / block

    samples: dict[str, list[float]] = {"contender": [], "baseline": []}
    for r in range(rounds):
        order = (("contender", contender), ("baseline", baseline))
        for name, run in order if r % 2 == 0 else reversed(order):
            samples[name].append(run())
    fast = statistics.median(samples["contender"]) * 1e6
    bare = statistics.median(samples["baseline"]) * 1e6
    rsa = []
    for i in range(30):
        t = time.perf_counter()
        sign_with_identity(election_answer(i), keyring.current)
        rsa.append(time.perf_counter() - t)
    print(
        f"SOAP evidence signature (EvidenceSigner, ECDSA P-256): {fast:.1f} µs"
        f" | baseline bare cryptography ECDSA P-256 sign of the same SignedInfo: {bare:.1f}"
        f" | ratio {fast / bare:.2f} (informational)"
    )
    print(
        f"SOAP evidence signature without an evidence key (signxml, RSA-2048): {statistics.median(rsa) * 1e6:.1f} µs"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as tmp:
        keyring, _ = KeyRing.ensure_development(Path(tmp) / "keys")
    identity = keyring.current
    issuer = DocumentIssuer(keyring)
    pades_signer = CachedKeySigner(identity)
    certs_pdf.register_fonts()

    # Warm-up: fonts, schema, first-use caches on both sides.
    warm = issuer.issue(document(0))
    qr_payload = warm.qr_payload

    steps: dict[str, list[float]] = {
        k: [] for k in ("issue", "lxml", "signxml", "reportlab", "pyhanko", "bare")
    }
    for i in range(1, n + 1):
        doc = document(i)
        t0 = time.perf_counter()
        issuer.issue(doc)
        t1 = time.perf_counter()

        root = build_xml(doc, validate_schema=False)
        etree.tostring(root, encoding="UTF-8")
        t2 = time.perf_counter()
        signed = XMLSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=EXC_C14N,
        ).sign(root, key=identity.private_key, cert=[identity.certificate])
        etree.tostring(signed, encoding="UTF-8")
        t3 = time.perf_counter()
        buf = io.BytesIO()
        SimpleDocTemplate(buf, pagesize=A4, invariant=1).build(
            certs_pdf._story(doc, qr_payload, certs_pdf._Styles())
        )
        t4 = time.perf_counter()
        meta = signers.PdfSignatureMetadata(
            field_name="Sig", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
        )
        signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(buf.getvalue())), meta, signer=pades_signer)
        t5 = time.perf_counter()

        steps["issue"].append(t1 - t0)
        steps["lxml"].append(t2 - t1)
        steps["signxml"].append(t3 - t2)
        steps["reportlab"].append(t4 - t3)
        steps["pyhanko"].append(t5 - t4)
        steps["bare"].append(t5 - t1)

    med = {k: statistics.median(v) * 1000 for k, v in steps.items()}
    print(f"documents: {n} (RSA-2048, PAdES B-B, 1 page A4 with 2 connections, Devanagari shaped)")
    print(f"{'step':<36}{'median ms':>10}")
    print(f"{'bare: lxml build + serialise':<36}{med['lxml']:>10.2f}")
    print(f"{'bare: signxml sign (key object)':<36}{med['signxml']:>10.2f}")
    print(f"{'bare: reportlab Platypus render':<36}{med['reportlab']:>10.2f}")
    print(f"{'bare: pyHanko PAdES (cached key)':<36}{med['pyhanko']:>10.2f}")
    print(f"{'bare total':<36}{med['bare']:>10.2f}")
    print(f"{'DocumentIssuer.issue()':<36}{med['issue']:>10.2f}")
    print(f"issue / bare = {med['issue'] / med['bare']:.2f}x (target <= 1.5x)")
    print(f"documents per second (one core): issue {1000 / med['issue']:.1f}, bare {1000 / med['bare']:.1f}")
    evidence_signature(keyring)


if __name__ == "__main__":
    main()
