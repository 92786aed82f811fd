"""Outages on the network and the notices to exactly the consumers below the failed node.

An outage is opened on a substation, feeder or DT by an officer (planned with its window, or
unplanned) or by an event of SCADA or the head-end (unplanned, idempotent on the event id).
Its notices are written by set-based SQL: for each channel one ``INSERT ... SELECT`` from the
recursive CTE of the consumers below the node into ``outage_notices`` (``ON CONFLICT DO
NOTHING`` on consumer, group, channel and notice), then one ``INSERT ... SELECT`` of the rows
that statement won into the outbox. So a consumer below a feeder and its DT, both down, is told
once per channel, whatever the order the two outages arrive in, and memory does not grow with
the number of consumers.

A **channel** is a row kind, not code in the fan-out: :class:`NoticeChannel` names its outbox
kind, the query of its recipients (consumer number, address) and how a payload is built in SQL
from an address and the notice's texts. SMS and e-mail are this module's; another (WhatsApp)
is added with :meth:`OutageService.add_channel`.

Who is reached comes from ``consumer_contacts``, kept from billing's contacts feed by
:func:`sync_contacts` (a periodic job of hub-worker and ``hub-admin <ini> outages contacts
--sync``) or, in an office without the feed, loaded from billing's CSV extract (:func:`load_contacts`).

Planned outages are announced ``hub.outages.notice_hours`` ahead of their window and never in
the quiet hours (IST, ``hub.outages.quiet_from``-``quiet_until``): a notice falling in them is
written at once with the outbox's due time moved to the morning, so the hold survives restarts.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, cast

from pyramid.registry import Registry
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    Text,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from connectors.billing import MAX_CONTACT_PAGE, ContactPage
from connectors.email import ADDRESS as EMAIL_ADDRESS
from connectors.errors import ConnectorUnavailable
from forms.identifiers import CONSUMER_NUMBER, MOBILE
from hub.db import mark_written
from hub.errors import FieldError, Problem
from hub.lookup import process_service
from hub.models.meta import IST, utcnow
from hub.models.network import ConsumerSupply, NetworkFeed, NetworkNode
from hub.models.outage import ConsumerContact, Outage, OutageNotice, OutageSourceEvent
from hub.models.outbox import OutboxMessage, OutboxStatus
from hub.network.service import advance_feed, consumers_below, feed_position, supply_of
from hub.outbox import unit_of_work
from hub.systems import Connectors

log = logging.getLogger(__name__)

PLANNED, UNPLANNED = "planned", "unplanned"
SCHEDULED, OPEN, RESTORED, CANCELLED = "scheduled", "open", "restored", "cancelled"
ACTIVE = (SCHEDULED, OPEN)
SOURCES = ("officer", "scada", "headend")
EVENT_SOURCES = ("scada", "headend")
EMAIL_KIND = "email"

_OUTBOX = cast(Table, OutboxMessage.__table__)
_NOTICES = cast(Table, OutageNotice.__table__)


@dataclass(frozen=True)
class OutageSettings:
    notice_hours: int
    quiet_from: tuple[int, int]
    quiet_until: tuple[int, int]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OutageSettings:
        return cls(
            int(settings["hub.outages.notice_hours"]),
            tuple(settings["hub.outages.quiet_from"]),  # type: ignore[arg-type]
            tuple(settings["hub.outages.quiet_until"]),  # type: ignore[arg-type]
        )

    def out_of_quiet_hours(self, at: datetime) -> datetime:
        """``at``, or the end of the quiet hours it falls in (IST; the window may cross midnight)."""
        local = at.astimezone(IST)
        start, until = time(*self.quiet_from), time(*self.quiet_until)
        now = local.time()
        crosses = start > until
        quiet = (now >= start or now < until) if crosses else (start <= now < until)
        if not quiet:
            return at
        morning = datetime.combine(local.date(), until, IST)
        if morning <= local:
            morning += timedelta(days=1)
        return morning


@dataclass(frozen=True)
class NoticeTexts:
    """What one notice says, in Hindi and English, for every channel."""

    sms_template: str
    sms_text: str
    subject: str
    body: str


def json_object(dialect: str, members: Mapping[str, Any]) -> ColumnElement[Any]:
    """A JSON object built by the database (one payload per row of an INSERT ... SELECT)."""
    args: list[Any] = []
    for name, value in members.items():
        args.append(sql_cast(literal(name), Text))
        args.append(value if isinstance(value, ColumnElement) else sql_cast(literal(value), Text))
    return func.json_build_object(*args) if dialect == "postgresql" else func.json_object(*args)


# (consumer number, address) of everyone a channel can reach.
Recipients = Select[str, str | None]


@dataclass(frozen=True)
class NoticeChannel:
    """One way of telling a consumer: ``recipients()`` selects ``consumer_number`` and ``address``;
    ``payload(dialect, address, texts)`` is the outbox payload as an SQL expression."""

    name: str
    outbox_kind: str
    recipients: Callable[[], Recipients]
    payload: Callable[[str, ColumnElement[Any], NoticeTexts], ColumnElement[Any]]


def _sms_recipients() -> Recipients:
    return select(ConsumerContact.consumer_number, ConsumerContact.mobile.label("address")).where(
        ConsumerContact.mobile.is_not(None)
    )


def _email_recipients() -> Recipients:
    return select(ConsumerContact.consumer_number, ConsumerContact.email.label("address")).where(
        ConsumerContact.email.is_not(None)
    )


SMS = NoticeChannel(
    "sms",
    "sms",
    _sms_recipients,
    lambda dialect, address, t: json_object(
        dialect, {"mobile": address, "text": t.sms_text, "template": t.sms_template}
    ),
)
EMAIL = NoticeChannel(
    "email",
    EMAIL_KIND,
    _email_recipients,
    lambda dialect, address, t: json_object(dialect, {"to": address, "subject": t.subject, "body": t.body}),
)


@dataclass(frozen=True)
class FanOut:
    """What one notice wrote: outbox messages per channel."""

    notice: str
    due: datetime
    sent: dict[str, int] = field(default_factory=dict)


def _stamp(at: datetime) -> str:
    return at.astimezone(IST).strftime("%d-%m-%Y %H:%M")


def _short(name: str) -> str:
    return name if len(name) <= 30 else name[:29] + "…"


def notice_texts(outage: Outage, node: NetworkNode, notice: str) -> NoticeTexts:
    """The bilingual texts of a notice (SMS short; e-mail with the reason)."""
    hi, en = _short(node.name_hi), _short(node.name_en)
    start = _stamp(outage.starts_at)
    until = _stamp(outage.expected_restoration_at) if outage.expected_restoration_at else "-"
    if notice == "start" and outage.kind == PLANNED:
        template = "outage_planned"
        text_hi = f"{hi}: रखरखाव हेतु बिजली {start} से {until} तक बंद रहेगी।"
        text_en = f"{en}: power off {start} to {until} for maintenance."
    elif notice == "start":
        template = "outage_unplanned"
        text_hi = f"{hi}: बिजली आपूर्ति बाधित। अनुमानित बहाली {until}।"
        text_en = f"{en}: supply interrupted. Expected restoration {until}."
    elif notice.startswith("update"):
        template = "outage_update"
        text_hi = f"{hi}: बिजली बहाली का नया अनुमानित समय {until}।"
        text_en = f"{en}: expected restoration now {until}."
    elif notice == "restored":
        template = "outage_restored"
        text_hi = f"{hi}: बिजली आपूर्ति बहाल।"
        text_en = f"{en}: supply restored."
    else:
        template = "outage_cancelled"
        text_hi = f"{hi}: {start} का नियोजित शटडाउन रद्द।"
        text_en = f"{en}: planned shutdown of {start} cancelled."
    body = "\n".join(
        [
            text_hi,
            f"कारण: {outage.reason_hi}",
            "",
            text_en,
            f"Reason: {outage.reason_en}",
            "",
            f"Outage no. {outage.id} · {node.code}",
        ]
    )
    subject = {
        "outage_planned": "नियोजित शटडाउन / Planned shutdown",
        "outage_unplanned": "बिजली बाधित / Power outage",
        "outage_update": "बहाली का नया समय / Restoration time updated",
        "outage_restored": "बिजली बहाल / Supply restored",
        "outage_cancelled": "शटडाउन रद्द / Shutdown cancelled",
    }[template]
    return NoticeTexts(template, f"{text_hi} {text_en}", f"{subject}: {en}", body)


def nodes_below(code: str) -> Select[Any]:
    """The codes of node ``code`` and every node under it."""
    below = select(NetworkNode.code).where(NetworkNode.code == code).cte("nodes_below", recursive=True)
    child = aliased(NetworkNode)
    below = below.union_all(select(child.code).where(child.parent_code == below.c.code))
    return select(below.c.code)


def ancestors(session: Session, node: NetworkNode) -> list[str]:
    found: list[str] = []
    code = node.parent_code
    while code and len(found) < 5:
        parent = session.get(NetworkNode, code)
        if parent is None:
            break
        found.append(parent.code)
        code = parent.parent_code
    return found


def outage_json(outage: Outage, node: NetworkNode | None = None) -> dict[str, Any]:
    return {
        "id": outage.id,
        "group_id": outage.group_id,
        "node_code": outage.node_code,
        "node_kind": outage.node_kind,
        "node_name_en": node.name_en if node else None,
        "node_name_hi": node.name_hi if node else None,
        "office_code": outage.office_code,
        "kind": outage.kind,
        "state": outage.state,
        "source": outage.source,
        "starts_at": outage.starts_at.isoformat(),
        "expected_restoration_at": (
            outage.expected_restoration_at.isoformat() if outage.expected_restoration_at else None
        ),
        "restored_at": outage.restored_at.isoformat() if outage.restored_at else None,
        "reason_en": outage.reason_en,
        "reason_hi": outage.reason_hi,
        "updates": outage.updates,
    }


@dataclass(frozen=True)
class NewOutage:
    node_code: str
    kind: str
    starts_at: datetime
    expected_restoration_at: datetime | None
    reason_en: str
    reason_hi: str
    source: str
    created_by: str


class OutageService:
    def __init__(self, registry: Registry, settings: OutageSettings) -> None:
        self.registry = registry
        self.settings = settings
        self.channels: dict[str, NoticeChannel] = {}
        self.add_channel(SMS)
        self.add_channel(EMAIL)

    def add_channel(self, channel: NoticeChannel) -> None:
        if channel.name in self.channels:
            raise ValueError(f"outage notice channel {channel.name!r} is already added")
        self.channels[channel.name] = channel

    # -- the fan-out -----------------------------------------------------------------------------

    def fan_out(
        self,
        session: Session,
        outage: Outage,
        node: NetworkNode,
        notice: str,
        due: datetime,
        *,
        still_out: Select[Any] | None = None,
    ) -> FanOut:
        """Write ``notice`` for every consumer below the outage's node on every channel, once per
        (consumer, group, channel, notice), and the outbox messages for the rows won.
        ``still_out``: consumer numbers left out (a restoration while a node above is still down)."""
        dialect = session.get_bind().dialect.name
        dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        texts = notice_texts(outage, node, notice)
        now = utcnow()
        batch = secrets.token_hex(16)
        below = consumers_below(outage.node_code).subquery("below")
        result = FanOut(notice, due)
        session.flush()
        for channel in self.channels.values():
            recipients = channel.recipients().subquery("recipients")
            chosen = (
                select(
                    below.c.consumer_number,
                    literal(outage.group_id),
                    literal(channel.name),
                    literal(notice),
                    literal(outage.id),
                    literal(batch),
                    literal(now, OutageNotice.created_at.type),
                )
                .join(recipients, recipients.c.consumer_number == below.c.consumer_number)
                # SQLite needs a WHERE before ON CONFLICT in an INSERT ... SELECT.
                .where(recipients.c.address.is_not(None))
            )
            if still_out is not None:
                chosen = chosen.where(below.c.consumer_number.not_in(still_out))
            # In consumer order, not the network's: the look-ups of the recipients and the unique
            # key's index are then visited page by page instead of at random (on SQLite, whose page
            # cache is small, the fan-out takes half the time).
            chosen = chosen.order_by(below.c.consumer_number)
            notices = (
                dialect_insert(_NOTICES)
                .from_select(
                    ["consumer_number", "group_id", "channel", "notice", "outage_id", "batch", "created_at"],
                    chosen,
                )
                .on_conflict_do_nothing(index_elements=["consumer_number", "group_id", "channel", "notice"])
            )
            result.sent[channel.name] = self._hand_to_outbox(
                session, channel, notices, batch, texts, due, now
            )
        mark_written(session)
        return result

    @staticmethod
    def _hand_to_outbox(
        session: Session,
        channel: NoticeChannel,
        notices: Any,
        batch: str,
        texts: NoticeTexts,
        due: datetime,
        now: datetime,
    ) -> int:
        """Insert the notices, then an outbox message for each row the insert won; how many."""
        dialect = session.get_bind().dialect.name
        columns = ["kind", "payload", "status", "attempts", "next_attempt_at", "created_at"]
        recipients = channel.recipients().subquery("won_recipients")

        def messages(won_numbers: Any) -> Select[Any]:
            return (
                select(
                    literal(channel.outbox_kind),
                    channel.payload(dialect, recipients.c.address, texts),
                    literal(OutboxStatus.PENDING.value),
                    literal(0),
                    literal(due, OutboxMessage.next_attempt_at.type),
                    literal(now, OutboxMessage.created_at.type),
                )
                .select_from(won_numbers)
                .join(recipients, recipients.c.consumer_number == won_numbers.c.consumer_number)
            )

        if dialect == "postgresql":
            # One statement: the rows the notice insert won feed the outbox insert directly.
            won = notices.returning(_NOTICES.c.consumer_number).cte("won")
            sent = insert(_OUTBOX).from_select(columns, messages(won)).returning(_OUTBOX.c.id).cte("sent")
            return int(session.scalar(select(func.count()).select_from(sent)) or 0)
        # SQLite (one writer at a time): the rows won are this batch's above the highest id before it.
        before = int(session.scalar(select(func.max(OutageNotice.id))) or 0)
        session.execute(notices)
        won_rows = (
            select(OutageNotice.consumer_number)
            .where(
                OutageNotice.id > before, OutageNotice.batch == batch, OutageNotice.channel == channel.name
            )
            .subquery("won")
        )
        session.execute(insert(_OUTBOX).from_select(columns, messages(won_rows)))
        return int(session.scalar(select(func.count()).select_from(won_rows)) or 0)

    def _due(self, outage: Outage, at: datetime) -> datetime:
        if outage.kind == PLANNED:
            return self.settings.out_of_quiet_hours(at)
        return at

    # -- officers and control rooms ------------------------------------------------------------

    def _node(self, session: Session, code: str) -> NetworkNode:
        node = session.get(NetworkNode, code, with_for_update=True)
        if node is None:
            raise Problem("outage_node_unknown", f"the network holds no node {code!r}")
        return node

    def _overlapping(
        self, session: Session, codes: Select[Any] | list[str], outage: NewOutage
    ) -> list[Outage]:
        end = outage.expected_restoration_at
        query = select(Outage).where(
            Outage.state.in_(ACTIVE),
            Outage.node_code.in_(codes),
            or_(Outage.expected_restoration_at.is_(None), Outage.expected_restoration_at > outage.starts_at),
        )
        # An outage without an estimate overlaps only what is already running at its start: a fault
        # tonight is not the shutdown announced for next week.
        query = query.where(
            Outage.starts_at < end if end is not None else Outage.starts_at <= outage.starts_at
        )
        return list(session.scalars(query.order_by(Outage.group_id, Outage.id)))

    def open(self, session: Session, new: NewOutage) -> tuple[Outage, FanOut | None]:
        """Open (unplanned) or schedule (planned) an outage and write its start notices."""
        if new.expected_restoration_at is not None and new.expected_restoration_at <= new.starts_at:
            raise Problem(
                "outage_times_invalid",
                errors=[FieldError("expected_restoration_at", "after_start", "must be after starts_at")],
            )
        now = utcnow()
        if new.kind == PLANNED and new.expected_restoration_at is None:
            raise Problem(
                "validation_failed",
                errors=[FieldError("expected_restoration_at", "required", "a planned outage has a window")],
            )
        if new.kind == PLANNED and new.starts_at <= now:
            raise Problem(
                "outage_times_invalid",
                errors=[
                    FieldError("starts_at", "in_future", "a planned outage is announced before it starts")
                ],
            )
        node = self._node(session, new.node_code)
        above = ancestors(session, node)
        # Outages in one substation's tree are opened one at a time (its row locked): a feeder and its
        # DT reported at the same moment still see each other and share one group.
        session.execute(
            select(NetworkNode.code)
            .where(NetworkNode.code == (above[-1] if above else node.code))
            .with_for_update()
        )
        same = self._overlapping(session, [node.code], new)
        if same:
            raise Problem(
                "outage_duplicate",
                f"outage {same[0].id} is already recorded on {node.code} for this time",
                extra={"outage_id": same[0].id},
            )
        related = self._overlapping(session, nodes_below(node.code), new) + self._overlapping(
            session, above, new
        )
        outage = Outage(
            group_id=0,
            node_code=node.code,
            node_kind=node.kind,
            office_code=node.office_code,
            kind=new.kind,
            state=SCHEDULED if new.kind == PLANNED else OPEN,
            source=new.source,
            starts_at=new.starts_at,
            expected_restoration_at=new.expected_restoration_at,
            reason_en=new.reason_en,
            reason_hi=new.reason_hi,
            updates=0,
            created_by=new.created_by,
            created_at=now,
            updated_at=now,
        )
        session.add(outage)
        session.flush()
        # One event for the consumers when a node above or below is already out at the time.
        outage.group_id = min((o.group_id for o in related), default=outage.id)
        announce = new.starts_at - timedelta(hours=self.settings.notice_hours)
        due = self._due(outage, max(now, announce))
        return outage, self.fan_out(session, outage, node, "start", due)

    def get(self, session: Session, outage_id: int, *, lock: bool = False) -> Outage:
        outage = session.get(Outage, outage_id, with_for_update=lock)
        if outage is None:
            raise Problem("not_found", "no such outage")
        return outage

    def update_restoration(self, session: Session, outage: Outage, expected: datetime) -> FanOut:
        if outage.state not in ACTIVE:
            raise Problem(
                "outage_state_conflict", f"the outage is {outage.state}", extra={"outage_state": outage.state}
            )
        if expected <= outage.starts_at:
            raise Problem(
                "outage_times_invalid",
                errors=[FieldError("expected_restoration_at", "after_start", "must be after the start")],
            )
        outage.expected_restoration_at = expected
        outage.updates += 1
        outage.updated_at = utcnow()
        node = self._node(session, outage.node_code)
        return self.fan_out(
            session, outage, node, f"update:{outage.id}:{outage.updates}", self._due(outage, utcnow())
        )

    def close(self, session: Session, outage: Outage, restored_at: datetime) -> FanOut:
        """Restoration: the consumers below told, except those still below another outage."""
        if outage.state not in ACTIVE:
            raise Problem(
                "outage_state_conflict",
                f"the outage is already {outage.state}",
                extra={"outage_state": outage.state},
            )
        now = utcnow()
        if outage.starts_at > now or restored_at < outage.starts_at:
            raise Problem(
                "outage_not_started",
                "an outage cannot be restored before it started; cancel a planned one instead",
            )
        if restored_at > now + timedelta(minutes=5):
            raise Problem(
                "outage_times_invalid",
                errors=[FieldError("restored_at", "not_future", "restoration is recorded once it happened")],
            )
        outage.state = RESTORED
        outage.restored_at = restored_at
        outage.updated_at = now
        node = self._node(session, outage.node_code)
        session.flush()
        still = self._still_out(session, outage)
        return self.fan_out(session, outage, node, "restored", self._due(outage, now), still_out=still)

    def cancel(self, session: Session, outage: Outage) -> FanOut:
        if outage.state != SCHEDULED or outage.kind != PLANNED:
            raise Problem(
                "outage_state_conflict", f"the outage is {outage.state}", extra={"outage_state": outage.state}
            )
        if outage.starts_at <= utcnow():
            raise Problem(
                "outage_state_conflict",
                "the shutdown has begun; record its restoration",
                extra={"outage_state": "begun"},
            )
        outage.state = CANCELLED
        outage.updated_at = utcnow()
        node = self._node(session, outage.node_code)
        return self.fan_out(session, outage, node, "cancelled", self._due(outage, utcnow()))

    def _still_out(self, session: Session, outage: Outage) -> Select[Any] | None:
        """Consumers below another outage of the same group still open (a node above still down)."""
        others = list(
            session.scalars(
                select(Outage.node_code).where(
                    Outage.group_id == outage.group_id, Outage.state.in_(ACTIVE), Outage.id != outage.id
                )
            )
        )
        if not others:
            return None
        # A CTE of its own name: the fan-out's own "below" CTE is in the same statement.
        start = select(NetworkNode.code).where(NetworkNode.code.in_(others))
        nodes = start.cte("still_out_nodes", recursive=True)
        child = aliased(NetworkNode)
        nodes = nodes.union_all(select(child.code).where(child.parent_code == nodes.c.code))
        return select(ConsumerSupply.consumer_number).join(nodes, ConsumerSupply.dt_code == nodes.c.code)

    # -- SCADA and the head-end ------------------------------------------------------------------

    def event(
        self,
        session: Session,
        source: str,
        event_id: str,
        node_code: str,
        action: str,
        at: datetime,
        expected: datetime | None,
    ) -> tuple[Outage, bool]:
        """Apply an outage or restoration event; (outage, False) when the event was applied before."""
        seen = session.get(OutageSourceEvent, (source, event_id))
        if seen is not None:
            if (seen.node_code, seen.action) != (node_code, action):
                raise Problem(
                    "outage_event_conflict", "this event id was reported for another node or action"
                )
            return self.get(session, seen.outage_id), False
        node = self._node(session, node_code)
        active = session.scalars(
            select(Outage)
            .where(Outage.node_code == node.code, Outage.state.in_(ACTIVE), Outage.starts_at <= utcnow())
            .order_by(Outage.id)
        ).first()
        if action == "outage":
            if active is None:
                new = NewOutage(
                    node.code,
                    UNPLANNED,
                    at,
                    expected,
                    "Fault reported by " + source.upper(),
                    f"{source.upper()} द्वारा दर्ज खराबी",
                    source,
                    source,
                )
                active, _ = self.open(session, new)
        else:
            if active is None:
                raise Problem("outage_not_open", f"no outage is open on {node.code}")
            self.close(session, active, min(max(at, active.starts_at), utcnow()))
        try:
            with session.begin_nested():
                session.add(
                    OutageSourceEvent(
                        source=source,
                        event_id=event_id,
                        action=action,
                        node_code=node.code,
                        outage_id=active.id,
                        received_at=utcnow(),
                    )
                )
        except IntegrityError:
            raise Problem(
                "conflict", "the same event is being applied by another request; repeat it"
            ) from None
        return active, True

    # -- what is out now ---------------------------------------------------------------------------

    def current(
        self,
        session: Session,
        *,
        consumer_number: str | None = None,
        feeder: str | None = None,
        dc: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Outages current or announced (not restored or cancelled), with their nodes."""
        query = (
            select(Outage, NetworkNode)
            .join(NetworkNode, NetworkNode.code == Outage.node_code)
            .where(Outage.state.in_(ACTIVE))
        )
        if consumer_number is not None:
            supply = supply_of(session, consumer_number)
            codes = [supply[k]["code"] for k in ("dt", "feeder", "substation") if supply and supply[k]]
            query = query.where(Outage.node_code.in_(codes))
        if feeder is not None:
            node = session.get(NetworkNode, feeder)
            above = ancestors(session, node) if node is not None else []
            query = query.where(or_(Outage.node_code.in_(nodes_below(feeder)), Outage.node_code.in_(above)))
        if dc is not None:
            query = query.where(Outage.office_code == dc)
        rows = session.execute(query.order_by(Outage.starts_at, Outage.id).limit(limit)).all()
        return [outage_json(outage, node) for outage, node in rows]

    def notices_of(self, session: Session, outage_id: int) -> dict[str, dict[str, int]]:
        """How many notices of each kind an outage wrote per channel (console, tests)."""
        rows = session.execute(
            select(OutageNotice.notice, OutageNotice.channel, func.count())
            .where(OutageNotice.outage_id == outage_id)
            .group_by(OutageNotice.notice, OutageNotice.channel)
        ).all()
        found: dict[str, dict[str, int]] = {}
        for notice, channel, count in rows:
            found.setdefault(notice, {})[channel] = int(count)
        return found


# -- how consumers are reached -------------------------------------------------------------------

CONTACT_CHUNK = 5_000


def contact_problem(consumer_number: str, mobile: str | None, email: str | None) -> str | None:
    """What is wrong with a consumer's contacts as billing sent them (``consumer_number``,
    ``mobile`` or ``email``), None if nothing: the hub stores a contact only when it is one."""
    if not CONSUMER_NUMBER.fullmatch(consumer_number):
        return "consumer_number"
    if mobile is not None and not MOBILE.fullmatch(mobile):
        return "mobile"
    if email is not None and (len(email) > 254 or not EMAIL_ADDRESS.fullmatch(email)):
        return "email"
    return None


def upsert_contacts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write consumers' contacts (``consumer_number``, ``mobile``, ``email``, ``updated_at``; one
    row per consumer), replacing what the hub held: a None clears it."""
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(ConsumerContact)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["consumer_number"],
            set_={name: statement.excluded[name] for name in ("mobile", "email", "updated_at")},
        ),
        rows,
    )


@dataclass
class ContactLoad:
    loaded: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def load_contacts(session: Session, rows: Iterable[Mapping[str, str]]) -> ContactLoad:
    """Upsert billing's extract of consumers' mobiles and e-mail addresses (``consumer_number``,
    ``mobile``, ``email``), in chunks; a row that is not valid is refused by line, never guessed."""
    report = ContactLoad()
    chunk: dict[str, dict[str, Any]] = {}

    def flush() -> None:
        if not chunk:
            return
        upsert_contacts(session, list(chunk.values()))
        report.loaded += len(chunk)
        chunk.clear()

    now = utcnow()
    for line, row in enumerate(rows, start=2):
        number = (row.get("consumer_number") or "").strip()
        mobile = (row.get("mobile") or "").strip() or None
        email = (row.get("email") or "").strip() or None
        reason = contact_problem(number, mobile, email)
        if reason is not None:
            report.refused.append((line, reason))
            continue
        chunk[number] = {"consumer_number": number, "mobile": mobile, "email": email, "updated_at": now}
        if len(chunk) >= CONTACT_CHUNK:
            flush()
    flush()
    mark_written(session)
    return report


# -- billing's contacts feed ----------------------------------------------------------------------

CONTACTS_FEED = "billing_contacts"
SKIP_REASONS = ("consumer_number", "mobile", "email")


@dataclass(frozen=True)
class ContactFeedSettings:
    sync_interval_seconds: int
    page_size: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ContactFeedSettings:
        page_size = int(settings["hub.outages.contacts_page_size"])
        if page_size > MAX_CONTACT_PAGE:
            raise ValueError(f"hub.outages.contacts_page_size: at most {MAX_CONTACT_PAGE}")
        return cls(int(settings["hub.outages.contacts_sync_interval_seconds"]), page_size)


@dataclass
class ContactSync:
    pages: int = 0
    applied: int = 0
    # Changes not applied, by what was wrong with them (SKIP_REASONS).
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    last_seq: int = 0
    # False when the feed was read to its end.
    more: bool = False


class ContactFeed:
    """Billing's contacts feed applied to ``consumer_contacts``, now or as hub-worker's job."""

    def __init__(self, registry: Registry, settings: ContactFeedSettings) -> None:
        self.registry = registry
        self.settings = settings

    def sync(self) -> ContactSync:
        """Read the feed to its end now; ConnectorUnavailable if billing cannot answer."""
        billing = process_service(self.registry, Connectors).require("billing")
        return sync_contacts(self.registry, billing, self.settings.page_size)

    def sync_job(self) -> None:
        """The periodic job: billing down leaves the position where it was, for the next run."""
        try:
            report = self.sync()
        except ConnectorUnavailable as exc:
            log.warning("billing's contacts feed not read: %s", exc)
            return
        if report.applied or any(report.skipped.values()):
            log.info(
                "billing's contacts feed applied",
                extra={"applied": report.applied, "skipped": report.skipped, "last_seq": report.last_seq},
            )


def sync_contacts(
    registry: Mapping[str, Any], billing: Any, page_size: int, max_pages: int | None = None
) -> ContactSync:
    """Apply billing's contact changes (``billing`` an IBilling) after the recorded position, up to
    ``max_pages`` pages, each page and the new position in one transaction.

    ConnectorUnavailable (billing down, garbage page) ends the run: the pages applied before stay,
    the position stays at the last one, the next run goes on from there.
    """
    report = ContactSync()
    with unit_of_work(registry) as session:
        report.last_seq = feed_position(session, CONTACTS_FEED)
    while max_pages is None or report.pages < max_pages:
        # Asked outside any transaction of the hub's: a slow billing holds no lock of ours.
        page: ContactPage = billing.contact_changes(report.last_seq, page_size)
        with unit_of_work(registry) as session:
            done = apply_contact_page(session, page, report.last_seq, report)
        report.pages += 1
        if not done:
            # Another reader (the command racing the job) moved the position: it goes on from there.
            report.more = True
            return report
        report.last_seq = page.last_seq
        if not page.more:
            report.more = False
            return report
    report.more = True
    return report


def apply_contact_page(session: Session, page: ContactPage, after: int, report: ContactSync) -> bool:
    """Upsert a page of billing's contact changes and move the position to its end, in the caller's
    transaction; False (nothing written) if the position is no longer ``after``.

    A change whose consumer number, mobile or e-mail is not one is skipped whole and counted by
    reason (logged with the consumer number, never the contact): the hub keeps what it had."""
    position = session.scalar(
        select(NetworkFeed.last_seq).where(NetworkFeed.source == CONTACTS_FEED).with_for_update()
    )
    if int(position or 0) != after:
        return False
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {}
    for change in page.changes:
        reason = contact_problem(change.consumer_number, change.mobile, change.email)
        if reason is not None:
            report.skipped[reason] += 1
            log.warning(
                "billing's contacts feed: change skipped",
                extra={"consumer_number": change.consumer_number[:12], "reason": reason, "seq": change.seq},
            )
            continue
        # The latest change of a consumer wins (one statement may not touch a row twice).
        rows[change.consumer_number] = {
            "consumer_number": change.consumer_number,
            "mobile": change.mobile,
            "email": change.email,
            "updated_at": now,
        }
    if rows:
        upsert_contacts(session, list(rows.values()))
        mark_written(session)
    report.applied += len(rows)
    advance_feed(session, CONTACTS_FEED, page.last_seq)
    return True
