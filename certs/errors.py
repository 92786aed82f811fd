"""Errors raised by ``certs``. Every error carries a stable ``code`` the hub maps to problem+json.

Messages never echo the input document: a verifier may be handed hostile bytes.
"""

from __future__ import annotations


class CertsError(Exception):
    """Base class. ``code`` is stable and safe to show to callers."""

    code = "certs_error"
    # A finer, equally stable cause where one exists (e.g. forms.safexml's "xml_too_large").
    reason: str | None = None

    def __init__(self, message: str, code: str | None = None, *, reason: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if reason is not None:
            self.reason = reason


class KeyRingError(CertsError):
    """Keys or certificates are missing, unreadable or inconsistent (an operator problem)."""

    code = "keyring_invalid"


class InvalidDocumentError(CertsError):
    """A document we were asked to issue does not satisfy our schema (a programming/data problem)."""

    code = "document_invalid"


class VerificationError(CertsError):
    """Base for everything that makes a presented document not trustworthy."""

    code = "verification_failed"


class MalformedDocumentError(VerificationError):
    """Not XML we accept, not our document type, no signature or not exactly one."""

    code = "document_malformed"


class UnsupportedSchemaVersionError(VerificationError):
    """One of our documents, but of a schema version this build cannot read."""

    code = "schema_version_unsupported"


class TamperedDocumentError(VerificationError):
    """The signature does not match the content (or covers something other than the whole document)."""

    code = "document_tampered"


class UntrustedSignerError(VerificationError):
    """The signature is intact but the signer does not chain to one of our trust anchors."""

    code = "signer_untrusted"


class QrPayloadError(VerificationError):
    """Base for QR payload failures."""

    code = "qr_invalid"


class QrMalformedError(QrPayloadError):
    code = "qr_malformed"


class QrBadSignatureError(QrPayloadError):
    code = "qr_bad_signature"


class QrUnknownKeyError(QrPayloadError):
    code = "qr_unknown_kid"


class QrExpiredError(QrPayloadError):
    code = "qr_expired"
