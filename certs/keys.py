"""Signing identities and the key ring the hub loads once at startup.

A :class:`SigningIdentity` is one signing key (RSA-2048 from our CA, or an RSA/EC key from a
licensed certifying authority in production) with its X.509 certificate and chain, plus a
dedicated ECDSA P-256 key for the QR payload (see :mod:`certs.qr` for why), plus (normally) an
:class:`EvidenceIdentity`: an ECDSA P-256 key with its own X.509 certificate from the same CA,
which signs SOAP evidence (response payloads a partner archives). An RSA-2048 private operation
costs ~0.7 ms, a P-256 signature ~35 us: evidence is signed on every SOAP answer, documents only
when issued. Verifiers validate both certificates against the same trust anchors. Private keys are
held as *cryptography key objects*: parsing an RSA key costs ~36 ms (cryptography checks it),
signing with the object ~0.6 ms, so nothing here re-reads a key per document.

A :class:`KeyRing` holds the current identity (signs new documents), every older identity
(their documents keep verifying after a rotation, and their QR keys stay in the JWKS) and the
trust anchors (CA certificates) that verifiers pin.

On-disk layout (``var/keys/`` in development; the same layout in production)::

    <directory>/                      mode 0700
      CURRENT                         kid of the identity that signs new documents
      trust/<sha256-prefix>.pem       trust anchors pinned by verifiers (one CA certificate per file)
      dev-ca.key.pem                  0600, development only: private key of the development CA
      identities/<kid>/
        signing-key.pem               0600, development: PKCS#8 private key (encrypted if a passphrase is used)
        signing-cert.pem              development: signer certificate, then intermediates (never the root)
        identity.p12                  0600, production instead of the two files above: key + certificate
                                      + chain from the certifying authority, passphrase from the environment
        qr-key.pem                    0600, ECDSA P-256 key for the QR JWS (encrypted with the passphrase if any)
        evidence.p12                  0600, ECDSA P-256 evidence key + certificate (+ chain) from the same
                                      CA, same passphrase; one file, so it appears whole or not at all

The ``kid`` of an identity is derived from its signer certificate (the first 8 bytes of its
SHA-256 fingerprint, hex), so it is stable, unique per certificate, and short enough for a QR code.
Old identities are never deleted by :meth:`KeyRing.rotate`; removing a directory stops its
documents from verifying, which is the operator's explicit decision. An identity without an
evidence key (a production key directory installed before evidence keys existed, or no evidence
PKCS#12 configured) is valid: evidence is then signed with the document key (slow, still correct).
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from certs.errors import KeyRingError

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

CURRENT_FILE = "CURRENT"
TRUST_DIR = "trust"
IDENTITIES_DIR = "identities"
DEV_CA_KEY = "dev-ca.key.pem"
SIGNING_KEY_FILE = "signing-key.pem"
SIGNING_CERT_FILE = "signing-cert.pem"
PKCS12_FILE = "identity.p12"
QR_KEY_FILE = "qr-key.pem"
EVIDENCE_PKCS12_FILE = "evidence.p12"

_DEV_CA_NAME = "Discom Hub Development CA (NOT FOR PRODUCTION)"
_DEV_ORG = "Discom Hub (development)"
_DEV_CA_YEARS = 10
_DEV_SIGNER_YEARS = 3


def kid_for_certificate(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256())[:8].hex()


def _b64url_uint(value: int, length: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(length, "big")).rstrip(b"=").decode("ascii")


def _spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def _fingerprint(certificate: x509.Certificate) -> bytes:
    return certificate.fingerprint(hashes.SHA256())


def _intermediates(chain: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    return tuple(c for c in chain if c.subject != c.issuer)


@dataclass(frozen=True, eq=False)
class EvidenceIdentity:
    """The ECDSA P-256 key and certificate that sign SOAP evidence. Immutable; hashable by object."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    # Certificates between the evidence certificate and a trust anchor (and possibly the anchor).
    chain: tuple[x509.Certificate, ...]

    def __post_init__(self) -> None:
        # P-256 only: the signer writes ecdsa-sha256 with 32-byte r and s (XML-DSig 1.1 section 6.4.3).
        if not isinstance(self.private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            self.private_key.curve, ec.SECP256R1
        ):
            raise KeyRingError(f"evidence identity {self.kid}: the evidence key must be an ECDSA P-256 key")
        if _spki(self.private_key.public_key()) != _spki(self.certificate.public_key()):
            raise KeyRingError(f"evidence identity {self.kid}: private key does not match its certificate")

    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """Chain certificates that are not self-signed roots (what goes next to the signer in a signature)."""
        return _intermediates(self.chain)


@dataclass(frozen=True, eq=False)
class SigningIdentity:
    """One signing key with its certificate chain, its QR key and its evidence key. Immutable; compare by ``kid``."""

    kid: str
    private_key: SigningKey
    certificate: x509.Certificate
    # Certificates between the signer and a trust anchor (and possibly the anchor itself).
    chain: tuple[x509.Certificate, ...]
    qr_key: ec.EllipticCurvePrivateKey
    # None: evidence is signed with ``private_key`` (see the module docstring).
    evidence: EvidenceIdentity | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.qr_key.curve, ec.SECP256R1):
            raise KeyRingError("the QR key must be an ECDSA P-256 key")
        if _spki(self.private_key.public_key()) != _spki(self.certificate.public_key()):
            raise KeyRingError(f"identity {self.kid}: private key does not match its certificate")

    @property
    def is_ecdsa(self) -> bool:
        return isinstance(self.private_key, ec.EllipticCurvePrivateKey)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """Chain certificates that are not self-signed roots (what goes next to the signer in a signature)."""
        return _intermediates(self.chain)

    def qr_public_jwk(self) -> dict[str, str]:
        numbers = self.qr_key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url_uint(numbers.x, 32),
            "y": _b64url_uint(numbers.y, 32),
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        }


@dataclass(frozen=True, eq=False)
class KeyRing:
    """The current identity, all identities (current included) and the pinned trust anchors."""

    current: SigningIdentity
    identities: tuple[SigningIdentity, ...]
    trust_anchors: tuple[x509.Certificate, ...]
    _by_fingerprint: dict[bytes, SigningIdentity] = field(init=False, repr=False, compare=False)
    _by_evidence_fingerprint: dict[bytes, SigningIdentity] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.trust_anchors:
            raise KeyRingError("a key ring needs at least one trust anchor")
        if self.current not in self.identities:
            raise KeyRingError("the current identity must be one of the key ring's identities")
        kids = [i.kid for i in self.identities]
        if len(set(kids)) != len(kids):
            raise KeyRingError("duplicate kid in key ring")
        for identity in self.identities:
            if identity.evidence is not None:
                # Checked here, at startup: an evidence certificate from another CA would make
                # every signed SOAP answer fail at the partner, silently from our side.
                _check_issued_by_anchor(
                    identity.evidence.certificate,
                    [*identity.evidence.chain, *identity.chain],
                    self.trust_anchors,
                    f"evidence certificate of identity {identity.kid}",
                )
        object.__setattr__(self, "_by_fingerprint", {_fingerprint(i.certificate): i for i in self.identities})
        object.__setattr__(
            self,
            "_by_evidence_fingerprint",
            {_fingerprint(i.evidence.certificate): i for i in self.identities if i.evidence is not None},
        )

    # ----------------------------------------------------------------- lookups

    def identity(self, kid: str) -> SigningIdentity | None:
        return next((i for i in self.identities if i.kid == kid), None)

    def identity_for_certificate(self, certificate: x509.Certificate) -> SigningIdentity | None:
        """The identity whose document signing certificate this is (evidence certificates: None)."""
        return self._by_fingerprint.get(_fingerprint(certificate))

    def identity_for_evidence_certificate(self, certificate: x509.Certificate) -> SigningIdentity | None:
        """The identity whose evidence certificate this is."""
        return self._by_evidence_fingerprint.get(_fingerprint(certificate))

    def trust_anchor_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.trust_anchors)

    # ----------------------------------------------------------------- publishing

    def published_pem(self) -> bytes:
        """PEM bundle for ``/.well-known/hub-certificates.pem``: anchors, then chains, then signers
        (document signers, then evidence signers), each certificate once."""
        seen: set[bytes] = set()
        out: list[bytes] = []

        def add(certificates: Iterable[x509.Certificate]) -> None:
            for c in certificates:
                fp = _fingerprint(c)
                if fp not in seen:
                    seen.add(fp)
                    out.append(c.public_bytes(serialization.Encoding.PEM))

        evidence = [i.evidence for i in self.identities if i.evidence is not None]
        add(self.trust_anchors)
        for identity in self.identities:
            add(identity.chain)
        for e in evidence:
            add(e.chain)
        add(i.certificate for i in self.identities)
        add(e.certificate for e in evidence)
        return b"".join(out)

    def public_jwks(self) -> dict[str, Any]:
        """JWKS of the QR payload keys (current first), for the hub's JWKS endpoint and offline verifiers.

        Only QR keys: XML signers (document and evidence) are X.509 certificates, published by
        :meth:`published_pem`, and XML-DSig verifiers read them from ``KeyInfo``.
        """
        ordered = [self.current, *(i for i in self.identities if i is not self.current)]
        return {"keys": [i.qr_public_jwk() for i in ordered]}

    # ----------------------------------------------------------------- development

    @classmethod
    def ensure_development(cls, directory: Path) -> tuple[KeyRing, bool]:
        """Load the development key ring, creating a dev CA and a signing identity if absent.

        Returns ``(keyring, created)`` so the hub can log that it generated keys. A current
        identity made before evidence keys existed gets one from the dev CA (counted as created).
        """
        directory = Path(directory)
        created = False
        if not (directory / CURRENT_FILE).exists():
            _make_private_dir(directory)
            if not (directory / DEV_CA_KEY).exists():
                _create_dev_ca(directory)
            _create_dev_identity(directory, passphrase=None)
            created = True
        ring = cls.load(directory)
        if ring.current.evidence is None and (directory / DEV_CA_KEY).exists():
            _create_dev_evidence(directory, directory / IDENTITIES_DIR / ring.current.kid, passphrase=None)
            return cls.load(directory), True
        return ring, created

    @classmethod
    def rotate(cls, directory: Path, passphrase: bytes | None = None) -> KeyRing:
        """Development rotation: a new signing identity (with a new evidence key) from the dev CA becomes current.

        Production keys come from a certifying authority: use :meth:`install_pkcs12` instead.
        """
        directory = Path(directory)
        if not (directory / DEV_CA_KEY).exists():
            raise KeyRingError(
                "no development CA key in this directory; production rotation installs a PKCS#12 "
                "from the certifying authority (KeyRing.install_pkcs12)"
            )
        _create_dev_identity(directory, passphrase=passphrase)
        return cls.load(directory, passphrase)

    # ----------------------------------------------------------------- production

    @classmethod
    def install_pkcs12(
        cls, directory: Path, p12_data: bytes, passphrase: bytes, *, evidence_p12: bytes | None = None
    ) -> KeyRing:
        """Production rotation: store a PKCS#12 from the certifying authority and make it current.

        A P-256 QR key is generated for it (encrypted with the same passphrase). A self-signed
        root found in the PKCS#12 chain is added to ``trust/`` if it is not there yet.
        ``evidence_p12`` (same passphrase) is the evidence key and certificate from the same CA;
        it is checked before anything is written (P-256, issued under a trust anchor).
        """
        directory = Path(directory)
        _make_private_dir(directory)
        _key, certificate, chain = _load_p12(p12_data, passphrase, "the new PKCS#12")
        kid = kid_for_certificate(certificate)
        identity_dir = directory / IDENTITIES_DIR / kid
        if identity_dir.exists():
            raise KeyRingError(f"identity {kid} is already installed")
        roots = [c for c in chain if c.subject == c.issuer]
        if evidence_p12 is not None:
            evidence = _evidence_from_p12(evidence_p12, passphrase, "the evidence PKCS#12")
            anchors = [*_trust_anchors_in(directory), *roots]
            _check_issued_by_anchor(
                evidence.certificate, [*evidence.chain, *chain], anchors, "the evidence PKCS#12"
            )
        _make_private_dir(identity_dir)
        _write_private(identity_dir / PKCS12_FILE, p12_data)
        _write_private(identity_dir / QR_KEY_FILE, _pem_private(_new_qr_key(), passphrase))
        if evidence_p12 is not None:
            _write_private(identity_dir / EVIDENCE_PKCS12_FILE, evidence_p12)
        for root in roots:
            _add_trust_anchor(directory, root)
        _set_current(directory, kid)
        return cls.load(directory, passphrase)

    @classmethod
    def add_evidence_pkcs12(cls, directory: Path, evidence_p12: bytes, passphrase: bytes) -> KeyRing:
        """Give the current identity its evidence key (a key directory installed without one).

        Never replaces an evidence key: a new one comes with a new identity (:meth:`install_pkcs12`),
        so each published evidence certificate stays with the identity it served. Safe when
        several processes start at once: the first writer wins, the others load its file.
        """
        directory = Path(directory)
        ring = cls.load(directory, passphrase)
        if ring.current.evidence is not None:
            return ring
        evidence = _evidence_from_p12(evidence_p12, passphrase, "the evidence PKCS#12")
        _check_issued_by_anchor(
            evidence.certificate,
            [*evidence.chain, *ring.current.chain],
            ring.trust_anchors,
            "the evidence PKCS#12",
        )
        _publish_private(directory / IDENTITIES_DIR / ring.current.kid / EVIDENCE_PKCS12_FILE, evidence_p12)
        return cls.load(directory, passphrase)

    @classmethod
    def from_pkcs12(
        cls,
        paths: Sequence[Path],
        passphrase: bytes,
        *,
        trust_anchors: Sequence[x509.Certificate] = (),
    ) -> KeyRing:
        """Key ring from PKCS#12 files; the LAST path is the current identity.

        Each PKCS#12 needs its QR key next to it (``qr-key.pem`` in the same directory, as
        :meth:`install_pkcs12` writes it), and takes the evidence key ``evidence.p12`` from
        there if present. Without explicit ``trust_anchors`` the self-signed roots inside the
        PKCS#12 chains are trusted.
        """
        if not paths:
            raise KeyRingError("from_pkcs12 needs at least one PKCS#12 file")
        identities = [_identity_from_p12_file(Path(p), passphrase) for p in paths]
        anchors = list(trust_anchors)
        if not anchors:
            for identity in identities:
                anchors.extend(c for c in identity.chain if c.subject == c.issuer)
        return cls(current=identities[-1], identities=tuple(identities), trust_anchors=_dedupe(anchors))

    @classmethod
    def load(cls, directory: Path, passphrase: bytes | None = None) -> KeyRing:
        """Load the layout described in the module docstring (development or production)."""
        directory = Path(directory)
        try:
            current_kid = (directory / CURRENT_FILE).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise KeyRingError(f"no {CURRENT_FILE} file in {directory}") from None
        anchors = _trust_anchors_in(directory)
        identities: list[SigningIdentity] = []
        identities_dir = directory / IDENTITIES_DIR
        for identity_dir in sorted(p for p in identities_dir.iterdir() if p.is_dir()):
            identities.append(_load_identity_dir(identity_dir, passphrase))
        current = next((i for i in identities if i.kid == current_kid), None)
        if current is None:
            raise KeyRingError(f"{CURRENT_FILE} names {current_kid!r}, which is not in {identities_dir}")
        return cls(current=current, identities=tuple(identities), trust_anchors=_dedupe(anchors))


# --------------------------------------------------------------------------- helpers


def _dedupe(certificates: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    seen: dict[bytes, x509.Certificate] = {}
    for c in certificates:
        seen.setdefault(_fingerprint(c), c)
    return tuple(seen.values())


def _trust_anchors_in(directory: Path) -> list[x509.Certificate]:
    return [
        cert
        for pem in sorted((directory / TRUST_DIR).glob("*.pem"))
        for cert in x509.load_pem_x509_certificates(pem.read_bytes())
    ]


def _directly_issued(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_issued_by_anchor(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    what: str,
) -> None:
    """Raise unless ``certificate`` chains to one of ``anchors`` through ``intermediates``.

    Signatures only, no validity dates or policy: verifiers apply those (and a certificate
    that expires in service must not stop the hub from starting to verify old evidence).
    """
    current = certificate
    for _depth in range(8):
        if any(_directly_issued(current, anchor) for anchor in anchors):
            return
        parent = next((c for c in intermediates if c is not current and _directly_issued(current, c)), None)
        if parent is None:
            break
        current = parent
    raise KeyRingError(f"{what} is not issued under a trust anchor of this key ring")


LOCK_FILE = ".lock"


@contextmanager
def key_directory_lock(directory: Path) -> Iterator[None]:
    """Hold the key directory's exclusive lock: one process at a time creates or installs keys.

    Web processes and hub-worker start together; without the lock each saw no ``CURRENT`` and
    made an identity of its own, and processes then signed with keys the published chain lacked.
    ``flock`` is released by the kernel if the holder dies, so a crash never leaves it stuck.
    Not reentrant: take it once, around the whole check-and-create.
    """
    _make_private_dir(directory)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL: never silently overwrite a key; 0600 from creation, not chmod afterwards.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _publish_private(path: Path, data: bytes) -> None:
    """Create a 0600 file atomically: readers never see it half-written; if it exists, keep it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    _write_private(tmp, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process installed it first; KeyRing.load reads theirs
    finally:
        tmp.unlink()


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _set_current(directory: Path, kid: str) -> None:
    _write_public(directory / CURRENT_FILE, (kid + "\n").encode("ascii"))


def _add_trust_anchor(directory: Path, certificate: x509.Certificate) -> None:
    trust = directory / TRUST_DIR
    trust.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = trust / f"{_fingerprint(certificate)[:8].hex()}.pem"
    if not path.exists():
        _write_public(path, certificate.public_bytes(serialization.Encoding.PEM))


def _pem_private(key: SigningKey, passphrase: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _load_private(data: bytes, passphrase: bytes | None, what: str) -> Any:
    try:
        return serialization.load_pem_private_key(data, password=passphrase or None)
    except (ValueError, TypeError) as exc:
        raise KeyRingError(f"cannot read {what}: {exc}") from None


def _new_qr_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _load_qr_key(path: Path, passphrase: bytes | None) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyRingError(f"missing QR key {path}") from None
    key = _load_private(data, passphrase, str(path))
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyRingError(f"{path} is not an EC key")
    return key


def _load_p12(
    data: bytes, passphrase: bytes | None, what: str
) -> tuple[SigningKey, x509.Certificate, tuple[x509.Certificate, ...]]:
    try:
        bundle = pkcs12.load_pkcs12(data, passphrase or None)
    except (ValueError, TypeError) as exc:
        raise KeyRingError(f"cannot read {what}: {exc}") from None
    if bundle.key is None or bundle.cert is None:
        raise KeyRingError(f"{what} must contain a private key and its certificate")
    key = bundle.key
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyRingError(f"{what}: only RSA and ECDSA signing keys are supported")
    chain = tuple(c.certificate for c in bundle.additional_certs)
    return key, bundle.cert.certificate, chain


def _evidence_from_p12(data: bytes, passphrase: bytes | None, what: str) -> EvidenceIdentity:
    key, certificate, chain = _load_p12(data, passphrase, what)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyRingError(f"{what}: the evidence key must be an ECDSA P-256 key")
    return EvidenceIdentity(kid_for_certificate(certificate), key, certificate, chain)


def _load_evidence(identity_dir: Path, passphrase: bytes | None) -> EvidenceIdentity | None:
    path = identity_dir / EVIDENCE_PKCS12_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return _evidence_from_p12(data, passphrase, str(path))


def _identity_from_p12_file(path: Path, passphrase: bytes | None) -> SigningIdentity:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyRingError(f"missing PKCS#12 file {path}") from None
    key, certificate, chain = _load_p12(data, passphrase, str(path))
    return SigningIdentity(
        kid=kid_for_certificate(certificate),
        private_key=key,
        certificate=certificate,
        chain=chain,
        qr_key=_load_qr_key(path.parent / QR_KEY_FILE, passphrase),
        evidence=_load_evidence(path.parent, passphrase),
    )


def _load_identity_dir(identity_dir: Path, passphrase: bytes | None) -> SigningIdentity:
    if (identity_dir / PKCS12_FILE).exists():
        identity = _identity_from_p12_file(identity_dir / PKCS12_FILE, passphrase)
    else:
        try:
            key_pem = (identity_dir / SIGNING_KEY_FILE).read_bytes()
            certs = x509.load_pem_x509_certificates((identity_dir / SIGNING_CERT_FILE).read_bytes())
        except FileNotFoundError as exc:
            raise KeyRingError(f"incomplete identity directory {identity_dir}: {exc.filename}") from None
        key = _load_private(key_pem, passphrase, str(identity_dir / SIGNING_KEY_FILE))
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyRingError(f"{identity_dir}: only RSA and ECDSA signing keys are supported")
        identity = SigningIdentity(
            kid=kid_for_certificate(certs[0]),
            private_key=key,
            certificate=certs[0],
            chain=tuple(certs[1:]),
            qr_key=_load_qr_key(identity_dir / QR_KEY_FILE, passphrase),
            evidence=_load_evidence(identity_dir, passphrase),
        )
    if identity.kid != identity_dir.name:
        raise KeyRingError(
            f"{identity_dir}: directory name does not match the certificate's kid {identity.kid}"
        )
    return identity


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _create_dev_ca(directory: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _DEV_ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, _DEV_CA_NAME),
        ]
    )
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * _DEV_CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(directory / DEV_CA_KEY, _pem_private(key, None))
    _add_trust_anchor(directory, certificate)


def _dev_ca(directory: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _load_private((directory / DEV_CA_KEY).read_bytes(), None, DEV_CA_KEY)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyRingError("the development CA key must be RSA")
    for pem in sorted((directory / TRUST_DIR).glob("*.pem")):
        for cert in x509.load_pem_x509_certificates(pem.read_bytes()):
            if _spki(cert.public_key()) == _spki(key.public_key()):
                return key, cert
    raise KeyRingError("the development CA certificate is missing from trust/")


def _dev_signer_certificate(
    ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, public_key: Any, purpose: str
) -> x509.Certificate:
    """An end-entity certificate from the dev CA: same profile for document and evidence signers."""
    now = _now()
    serial = x509.random_serial_number()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _DEV_ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Discom Hub {purpose} (development) {serial:x}"[:64]),
        ]
    )
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=365 * _DEV_SIGNER_YEARS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _create_dev_evidence(directory: Path, identity_dir: Path, passphrase: bytes | None) -> None:
    ca_key, ca_cert = _dev_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _dev_signer_certificate(ca_key, ca_cert, key.public_key(), "evidence signing")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    # No CA in the bundle: the dev CA is the trust anchor, and anchors are not repeated in chains.
    p12 = pkcs12.serialize_key_and_certificates(b"evidence", key, certificate, None, encryption)
    # Several processes may upgrade an old development directory at once: one file wins whole.
    _publish_private(identity_dir / EVIDENCE_PKCS12_FILE, p12)


def _create_dev_identity(directory: Path, passphrase: bytes | None) -> str:
    ca_key, ca_cert = _dev_ca(directory)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = _dev_signer_certificate(ca_key, ca_cert, key.public_key(), "document signing")
    kid = kid_for_certificate(certificate)
    identity_dir = directory / IDENTITIES_DIR / kid
    identity_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    identity_dir.mkdir(mode=0o700)
    _write_private(identity_dir / SIGNING_KEY_FILE, _pem_private(key, passphrase))
    # Only the signer: the dev CA is the trust anchor, and anchors are not repeated in chains.
    _write_public(identity_dir / SIGNING_CERT_FILE, certificate.public_bytes(serialization.Encoding.PEM))
    _write_private(identity_dir / QR_KEY_FILE, _pem_private(_new_qr_key(), passphrase))
    _create_dev_evidence(directory, identity_dir, passphrase)
    _set_current(directory, kid)
    return kid


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
