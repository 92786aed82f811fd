"""The hub's own tables. Importing this module registers every model on Base.metadata."""

from hub.models.audit import AuditEntry
from hub.models.client import PartnerClient, TokenSigningKey
from hub.models.document import DocumentFiles, DocumentSeries, DocumentVerification, IssuedDocument
from hub.models.meta import Base, utcnow
from hub.models.otp import OtpChallenge
from hub.models.outbox import OutboxMessage, OutboxStatus
from hub.models.ratelimit import RateLimitWindow
from hub.models.soap import SoapNonce
from hub.models.workflow import WorkflowBreach, WorkflowCase, WorkflowEvent

__all__ = [
    "AuditEntry",
    "Base",
    "DocumentFiles",
    "DocumentSeries",
    "DocumentVerification",
    "IssuedDocument",
    "OtpChallenge",
    "OutboxMessage",
    "OutboxStatus",
    "PartnerClient",
    "RateLimitWindow",
    "SoapNonce",
    "TokenSigningKey",
    "WorkflowBreach",
    "WorkflowCase",
    "WorkflowEvent",
    "utcnow",
]
