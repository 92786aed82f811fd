"""Live dues status for candidates who bring a certificate issued elsewhere, or none.

The answer comes from billing at the moment of asking (as of the end of a
day in India time). If billing cannot answer, neither can we: the
ConnectorUnavailable propagates (REST 503, SOAP Receiver fault), never a
guess. A consumer number billing does not know is answered ``unknown`` and
makes the candidate not clear; so does a Samagra ID the Samagra registry does
not know (asked before billing: "no connection" is only said of a person who
exists). ``status`` sums the answer up: ``dues`` if anything is owed, else
``unknown`` if anything is not known, else ``clear``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connectors.billing import MAX_DUES_BATCH, OutstandingDues, UnknownConsumers
from connectors.errors import ConnectorUnavailable, NotFound
from forms.identifiers import CONSUMER_NUMBER
from forms.reader import Reader
from hub.certificates.questions import SAMAGRA
from hub.models.meta import IST, utcnow


@dataclass(frozen=True)
class DuesQuestion:
    consumer_numbers: tuple[str, ...]
    samagra_id: str | None
    as_of: date


def today_in_india(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(IST).date()


def read_dues_question(data: Mapping[str, Any], now: datetime | None = None) -> DuesQuestion:
    """Consumer numbers (up to 1,000) or a Samagra ID, and an optional past-or-today ``as_of``."""
    reader = Reader(data)
    numbers = reader.text_list(
        "consumer_numbers", required=False, max_items=MAX_DUES_BATCH, max_length=12, pattern=CONSUMER_NUMBER
    )
    samagra_id = reader.text("samagra_id", required=False, pattern=SAMAGRA, max_length=9)
    as_of = reader.day("as_of", required=False)
    if bool(numbers) == bool(samagra_id):
        reader.problem("consumer_numbers", "required", "give consumer_numbers or samagra_id, not both")
    today = today_in_india(now)
    if as_of is not None and as_of > today:
        reader.problem("as_of", "range", "dues are known up to today (India time)")
    reader.done()
    unique = tuple(dict.fromkeys(numbers or ()))
    return DuesQuestion(unique, samagra_id or None, as_of or today)


def _unknown_person(question: DuesQuestion) -> dict[str, Any]:
    return {
        "as_of": question.as_of.isoformat(),
        "samagra_id": question.samagra_id,
        "status": "unknown",
        "clear": False,
        "no_connection": False,
        "connections": [],
    }


def dues_status(billing: Any, question: DuesQuestion, samagra: Any = None) -> dict[str, Any]:
    """The candidate's dues as of ``question.as_of``, one entry per connection, in the order asked.

    ``samagra`` (the Samagra connector) is needed for a question by Samagra ID.
    """
    if billing is None:
        raise ConnectorUnavailable("no billing connector configured", system="billing")
    if question.samagra_id is not None:
        if samagra is None:
            raise ConnectorUnavailable("no Samagra connector configured", system="samagra")
        try:
            samagra.get_person(question.samagra_id)
        except NotFound:
            return _unknown_person(question)
        numbers = tuple(c.consumer_number for c in billing.connections_by_samagra(question.samagra_id))
    else:
        numbers = question.consumer_numbers
    found: dict[str, OutstandingDues] = {}
    unknown: set[str] = set()
    for start in range(0, len(numbers), MAX_DUES_BATCH):
        chunk = list(numbers[start : start + MAX_DUES_BATCH])
        try:
            found.update(billing.outstanding_dues_many(chunk, question.as_of))
        except UnknownConsumers as exc:
            # Billing answers all or nothing; ask again for the ones it knows.
            unknown.update(exc.consumer_numbers)
            known = [n for n in chunk if n not in unknown]
            if known:
                found.update(billing.outstanding_dues_many(known, question.as_of))
    connections: list[dict[str, Any]] = []
    for number in numbers:
        dues = found.get(number)
        if dues is None:
            connections.append({"consumer_number": number, "status": "unknown"})
            continue
        entry: dict[str, Any] = {
            "consumer_number": number,
            "status": "clear" if dues.is_clear else "dues",
            "amount": f"{dues.amount:.2f}",
            "evidence_id": dues.evidence_id,
        }
        if dues.last_bill_date is not None:
            entry["last_bill_date"] = dues.last_bill_date.isoformat()
        connections.append(entry)
    answer: dict[str, Any] = {"as_of": question.as_of.isoformat()}
    if question.samagra_id is not None:
        answer["samagra_id"] = question.samagra_id
    statuses = {c["status"] for c in connections}
    answer["status"] = "dues" if "dues" in statuses else "unknown" if "unknown" in statuses else "clear"
    answer["clear"] = answer["status"] == "clear"
    answer["no_connection"] = not connections
    answer["connections"] = connections
    return answer
