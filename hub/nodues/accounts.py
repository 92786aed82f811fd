"""Consumer accounts: a mobile proved by OTP, holding up to 25 linked connections, and their e-KYC."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from pyramid.registry import Registry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certs.document import mask_mobile
from connectors.billing import Consumer
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.kyc import EkycOutcome
from connectors.samagra import SamagraPerson
from hub.audit import record as audit_record
from hub.db import Database
from hub.errors import Problem
from hub.lookup import process_service
from hub.models.meta import utcnow
from hub.models.nodues import ConsumerAccount, LinkedConnection, NoDuesApplication
from hub.models.outbox import OutboxMessage
from hub.nodues.workflow import OPEN_STATES
from hub.otp import SentOtp, create_otp
from hub.outbox import enqueue, enqueue_sms

MAX_CONNECTIONS = 25

# Connectors as found with request.find_service(IBilling / IKyc). zope.interface
# methods are declared without ``self``, so mypy cannot check calls through them.
Billing = Any  # provides connectors.billing.IBilling
Kyc = Any  # provides connectors.kyc.IKyc
Samagra = Any  # provides connectors.samagra.ISamagra


def otp_text(code: str) -> str:
    # DLT "otp" template: the code first, so phones can offer to paste it.
    return f"{code} is your OTP for the electricity no-dues service. Valid 10 minutes. Do not share it. MPCZ"


def send_otp(session: Session, secret: str, client_id: str, mobile: str, purpose: str) -> SentOtp:
    """Record a challenge and queue its SMS in the caller's transaction (OtpRefused on limits)."""
    sent = create_otp(session, secret, mobile, purpose, client_id)
    enqueue_sms(session, mobile, otp_text(sent.code), "otp")
    return sent


def account_purpose() -> str:
    return "nodues.account"


def link_purpose(account: ConsumerAccount, consumer_number: str) -> str:
    return f"nodues.link:{account.public_id}:{consumer_number}"


def ekyc_purpose(account: ConsumerAccount, consumer_number: str) -> str:
    return f"nodues.ekyc:{account.public_id}:{consumer_number}"


def apply_purpose(account: ConsumerAccount, samagra_id: str) -> str:
    return f"nodues.apply:{account.public_id}:{samagra_id}"


def registry_person(samagra: Samagra, samagra_id: str) -> SamagraPerson:
    """The Samagra registry's member, or 422 ``samagra_unknown`` (ConnectorUnavailable propagates: 503)."""
    try:
        person: SamagraPerson = samagra.get_person(samagra_id)
    except NotFound:
        raise Problem("samagra_unknown", f"the Samagra registry has no member {samagra_id}") from None
    return person


def apply_otp_target(account: ConsumerAccount, person: SamagraPerson) -> tuple[str, str]:
    """Where the OTP for applying as ``person`` goes, and what answering it proves.

    An account whose e-KYC carries this Samagra ID has shown it is the person: the OTP goes to the
    account's own mobile (consent). Otherwise only the mobile the registry holds for the person can
    show that the applicant is them.
    """
    if account.samagra_id == person.samagra_id:
        return account.mobile, "ekyc"
    if person.mobile is None:
        raise Problem(
            "samagra_no_mobile",
            "the Samagra registry holds no mobile for this person: complete the e-KYC of their "
            "connection first",
        )
    return person.mobile, "samagra_otp"


def find_account(session: Session, client_id: str, public_id: str) -> ConsumerAccount:
    """The caller's own account, or 404 exactly as if it did not exist."""
    account = session.execute(
        select(ConsumerAccount).where(
            ConsumerAccount.public_id == public_id, ConsumerAccount.client_id == client_id
        )
    ).scalar_one_or_none()
    if account is None:
        raise Problem("not_found", "no such account for this client")
    return account


def linked(session: Session, account: ConsumerAccount) -> list[LinkedConnection]:
    return list(
        session.execute(
            select(LinkedConnection)
            .where(LinkedConnection.account_id == account.id)
            .order_by(LinkedConnection.linked_at, LinkedConnection.id)
        ).scalars()
    )


def find_link(session: Session, account: ConsumerAccount, consumer_number: str) -> LinkedConnection | None:
    return session.execute(
        select(LinkedConnection).where(
            LinkedConnection.account_id == account.id, LinkedConnection.consumer_number == consumer_number
        )
    ).scalar_one_or_none()


def _count(session: Session, account: ConsumerAccount) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(LinkedConnection)
            .where(LinkedConnection.account_id == account.id)
        ).scalar_one()
    )


def open_account(
    session: Session, billing: Billing, client_id: str, mobile: str
) -> tuple[ConsumerAccount, bool]:
    """The client's account for a mobile just proved by OTP; a new one links the connections
    billing registers to that mobile (the OTP went to it, so they are proved too)."""
    account = session.execute(
        select(ConsumerAccount).where(
            ConsumerAccount.client_id == client_id, ConsumerAccount.mobile == mobile
        )
    ).scalar_one_or_none()
    now = utcnow()
    if account is not None:
        account.verified_at = now
        return account, False
    account = ConsumerAccount(
        public_id="acc_" + secrets.token_urlsafe(12),
        client_id=client_id,
        mobile=mobile,
        created_at=now,
        verified_at=now,
    )
    session.add(account)
    session.flush()
    for consumer in billing.connections_by_mobile(mobile)[:MAX_CONNECTIONS]:
        _add_link(session, account, consumer, "registered_mobile")
    audit_record(
        session, f"client:{client_id}", "nodues.account_opened", "nodues_account", account.public_id, {}
    )
    return account, True


def _add_link(session: Session, account: ConsumerAccount, consumer: Consumer, proof: str) -> LinkedConnection:
    link = LinkedConnection(
        account_id=account.id,
        consumer_number=consumer.consumer_number,
        proof=proof,
        dc_code=consumer.offices.dc,
        division_code=consumer.offices.division,
        circle_code=consumer.offices.circle,
        ekyc_status="not_done",
        linked_at=utcnow(),
    )
    session.add(link)
    session.flush()
    return link


def billing_consumer(billing: Billing, consumer_number: str) -> Consumer:
    try:
        return billing.get_consumer(consumer_number)
    except NotFound:
        raise Problem(
            "unknown_consumer_number", f"billing has no consumer number {consumer_number}"
        ) from None


def check_room(session: Session, account: ConsumerAccount) -> None:
    if _count(session, account) >= MAX_CONNECTIONS:
        raise Problem(
            "connection_limit",
            f"an account holds at most {MAX_CONNECTIONS} connections; unlink one first",
            extra={"max_connections": MAX_CONNECTIONS},
        )


def link_connection(
    session: Session,
    account: ConsumerAccount,
    consumer: Consumer,
    proof: str,
    actor: str,
) -> LinkedConnection:
    check_room(session, account)
    link = _add_link(session, account, consumer, proof)
    audit_record(
        session,
        actor,
        "nodues.connection_linked",
        "nodues_account",
        account.public_id,
        {"consumer_number": consumer.consumer_number, "proof": proof},
    )
    return link


def proof_without_otp(account: ConsumerAccount, consumer: Consumer) -> str | None:
    """How the account owns ``consumer`` without a new OTP, or None (someone else's connection)."""
    if consumer.mobile == account.mobile:
        return "registered_mobile"
    if account.samagra_id and consumer.samagra_id == account.samagra_id:
        return "samagra"
    return None


def unlink_connection(session: Session, account: ConsumerAccount, consumer_number: str, actor: str) -> None:
    link = find_link(session, account, consumer_number)
    if link is None:
        raise Problem("connection_not_linked", f"{consumer_number} is not linked to this account")
    open_apps = session.execute(
        select(NoDuesApplication.connections).where(
            NoDuesApplication.account_id == account.id, NoDuesApplication.status.in_(OPEN_STATES)
        )
    ).scalars()
    if any(consumer_number in covered for covered in open_apps):
        raise Problem("conflict", "an open application covers this connection; wait for its decision")
    session.delete(link)
    session.flush()
    audit_record(
        session,
        actor,
        "nodues.connection_unlinked",
        "nodues_account",
        account.public_id,
        {"consumer_number": consumer_number},
    )


EKYC_KIND = "nodues.ekyc"


def queue_ekyc(
    session: Session,
    account: ConsumerAccount,
    link: LinkedConnection,
    samagra_id: str,
    mobile: str,
    actor: str,
) -> None:
    """Hand the e-KYC to the worker: the KYC system is an outside system, called after the commit.

    (It also keeps a slow or unavailable KYC system out of the request, and the
    outbox retries it with backoff.)
    """
    link.ekyc_status = "submitted"
    link.ekyc_refusal = None
    enqueue(
        session,
        EKYC_KIND,
        {
            "account_id": account.public_id,
            "consumer_number": link.consumer_number,
            "samagra_id": samagra_id,
            "mobile": mobile,
            "actor": actor,
        },
        key=f"nodues-ekyc:{link.consumer_number}",
    )
    audit_record(
        session,
        actor,
        "nodues.ekyc_submitted",
        "nodues_account",
        account.public_id,
        {"consumer_number": link.consumer_number},
    )


class EkycRunner:
    """Outbox handler of ``nodues.ekyc``: submit to the KYC connector, keep the outcome."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __call__(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        payload = message.payload
        kyc = connectors.get("kyc")
        if kyc is None:
            raise ConnectorUnavailable("no KYC connector configured", system="kyc")
        outcome: EkycOutcome = kyc.submit_ekyc(
            payload["consumer_number"], payload["samagra_id"], payload["mobile"]
        )
        secret = str(self.registry.settings["hub.secret_key"])
        with Session(process_service(self.registry, Database).engine) as session, session.begin():
            account = session.execute(
                select(ConsumerAccount).where(ConsumerAccount.public_id == payload["account_id"])
            ).scalar_one()
            link = find_link(session, account, payload["consumer_number"])
            record_ekyc_outcome(session, account, link, outcome, secret, str(payload["actor"]))


def record_ekyc_outcome(
    session: Session,
    account: ConsumerAccount,
    link: LinkedConnection | None,
    outcome: EkycOutcome,
    secret_key: str,
    actor: str,
) -> None:
    """Keep the status on the link and in the hub's KYC store; the account's Samagra ID comes from here."""
    record = outcome.record
    if not outcome.accepted or record is None:
        reason = outcome.refusal.value if outcome.refusal is not None else "refused"
        if link is not None:
            link.ekyc_status = "refused"
            link.ekyc_refusal = reason
        audit_record(
            session,
            actor,
            "nodues.ekyc_refused",
            "nodues_account",
            account.public_id,
            {"consumer_number": link.consumer_number if link else None, "reason": reason},
        )
        return
    if link is not None:
        link.ekyc_status = record.status.value
        link.ekyc_refusal = None
        link.ekyc_at = utcnow()
    if account.samagra_id is None and record.samagra_id:
        account.samagra_id = record.samagra_id
    from hub.kycstore import record_ekyc

    # The KYC system did it, whatever became of the link meanwhile: the hub's copy follows.
    record_ekyc(session, record, "ekyc", secret_key=secret_key)
    audit_record(
        session,
        actor,
        "nodues.ekyc_done",
        "nodues_account",
        account.public_id,
        {"consumer_number": record.consumer_number, "status": record.status.value},
    )


def account_json(session: Session, account: ConsumerAccount) -> dict[str, Any]:
    links = linked(session, account)
    return {
        "account_id": account.public_id,
        "mobile_masked": mask_mobile(account.mobile),
        "samagra_verified": account.samagra_id is not None,
        "max_connections": MAX_CONNECTIONS,
        "connections": [link_json(link) for link in links],
    }


def link_json(link: LinkedConnection) -> dict[str, Any]:
    return {
        "consumer_number": link.consumer_number,
        "proof": link.proof,
        "linked_at": link.linked_at.isoformat(),
        "ekyc_status": link.ekyc_status,
        "ekyc_at": link.ekyc_at.isoformat() if link.ekyc_at else None,
        "ekyc_refusal": link.ekyc_refusal,
        "office": {"dc": link.dc_code, "division": link.division_code, "circle": link.circle_code},
    }
