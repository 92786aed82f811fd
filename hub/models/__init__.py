"""The hub's own tables. Importing this module registers every model on Base.metadata."""

from hub.models.audit import AuditEntry
from hub.models.client import PartnerClient, TokenSigningKey
from hub.models.document import DocumentFiles, DocumentSeries, DocumentVerification, IssuedDocument
from hub.models.meta import Base, utcnow
from hub.models.outbox import OutboxMessage, OutboxStatus
from hub.models.ratelimit import RateLimitWindow
from hub.models.soap import SoapNonce

__all__ = [
    "AuditEntry",
    "Base",
    "DocumentFiles",
    "DocumentSeries",
    "DocumentVerification",
    "IssuedDocument",
    "OutboxMessage",
    "OutboxStatus",
    "PartnerClient",
    "RateLimitWindow",
    "SoapNonce",
    "TokenSigningKey",
    "utcnow",
]
