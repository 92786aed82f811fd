"""The hub's own tables. Importing this module registers every model on Base.metadata."""

from hub.models.audit import AuditEntry
from hub.models.bills import BillPayment, BillPaymentOrder, PaymentEvent
from hub.models.chatbot import ChatConversation, ChatMessageSeen
from hub.models.client import PartnerClient, TokenSigningKey
from hub.models.complaint import Complaint
from hub.models.connection import (
    ConnectionApplication,
    ConnectionDocument,
    ConnectionIncident,
    ConnectionPayment,
)
from hub.models.correction import BillCorrection, BillCorrectionEvidence
from hub.models.document import (
    DocumentFiles,
    DocumentSeries,
    DocumentVerification,
    IssuedDocument,
)
from hub.models.election import ElectionVerificationJob, HolderNotice
from hub.models.energy import (
    EnergyAudit,
    EnergyAuditFlag,
    EnergyAuditResult,
    EnergyDtSales,
    EnergyNodeInput,
    EnergyOffice,
    EnergyReading,
    EnergySale,
)
from hub.models.job import JobLease
from hub.models.kyc import ConnectionKyc, KycChange, KycConsent, KycFieldPolicy, KycSyncState
from hub.models.meta import Base, utcnow
from hub.models.meter import CommandStatus, MeterCommand
from hub.models.network import ConsumerSupply, NetworkFeed, NetworkNode
from hub.models.nodues import ConsumerAccount, LinkedConnection, NoDuesApplication, NoDuesCheck
from hub.models.office import OfficeLink
from hub.models.officer import Officer
from hub.models.otp import OtpChallenge
from hub.models.outage import ConsumerContact, Outage, OutageNotice, OutageSourceEvent
from hub.models.outbox import OutboxMessage, OutboxStatus
from hub.models.ratelimit import RateLimitWindow
from hub.models.soap import SoapNonce
from hub.models.throttle import SignInFailures
from hub.models.whatsapp import (
    WhatsAppBillRun,
    WhatsAppInbound,
    WhatsAppMedia,
    WhatsAppNumber,
    WhatsAppOutbound,
    WhatsAppSubscription,
)
from hub.models.workflow import WorkflowBreach, WorkflowCase, WorkflowEvent

__all__ = [
    "AuditEntry",
    "Base",
    "BillCorrection",
    "BillCorrectionEvidence",
    "BillPayment",
    "BillPaymentOrder",
    "ChatConversation",
    "ChatMessageSeen",
    "CommandStatus",
    "Complaint",
    "ConnectionApplication",
    "ConnectionDocument",
    "ConnectionIncident",
    "ConnectionKyc",
    "ConnectionPayment",
    "ConsumerAccount",
    "ConsumerContact",
    "ConsumerSupply",
    "DocumentFiles",
    "DocumentSeries",
    "DocumentVerification",
    "ElectionVerificationJob",
    "EnergyAudit",
    "EnergyAuditFlag",
    "EnergyAuditResult",
    "EnergyDtSales",
    "EnergyNodeInput",
    "EnergyOffice",
    "EnergyReading",
    "EnergySale",
    "HolderNotice",
    "IssuedDocument",
    "JobLease",
    "KycChange",
    "KycConsent",
    "KycFieldPolicy",
    "KycSyncState",
    "LinkedConnection",
    "MeterCommand",
    "NetworkFeed",
    "NetworkNode",
    "NoDuesApplication",
    "NoDuesCheck",
    "OfficeLink",
    "Officer",
    "OtpChallenge",
    "Outage",
    "OutageNotice",
    "OutageSourceEvent",
    "OutboxMessage",
    "OutboxStatus",
    "PartnerClient",
    "PaymentEvent",
    "RateLimitWindow",
    "SignInFailures",
    "SoapNonce",
    "TokenSigningKey",
    "WhatsAppBillRun",
    "WhatsAppInbound",
    "WhatsAppMedia",
    "WhatsAppNumber",
    "WhatsAppOutbound",
    "WhatsAppSubscription",
    "WorkflowBreach",
    "WorkflowCase",
    "WorkflowEvent",
    "utcnow",
]
