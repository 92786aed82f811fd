"""Daily reconciliation: a channel's settlement file against the hub's payments and billing's ledger.

The file and billing's ledger for the day are streamed into staging tables
(COPY on PostgreSQL, batched inserts on SQLite), then matched by SQL joins;
Python never holds more than a batch, so a file of a million lines runs in
flat memory. What does not match is kept as items (office work, in the
console and as CSV); what matches is only counted. Staging rows are removed
at the end.

Categories (one per settlement transaction, hub payment or ledger posting):

* ``matched``: the channel, the hub and billing agree;
* ``missing_in_hub``: the channel settled money the hub never recorded;
* ``missing_at_channel``: the hub recorded a payment the channel did not settle;
* ``missing_in_billing``: posted by the hub, not in billing's ledger;
* ``amount_differs``: the channel's, the hub's or billing's amounts differ;
* ``duplicate_at_channel``: the file lists a transaction more than once;
* ``not_yet_posted`` / ``in_suspense``: the hub still holds it;
* ``billing_only``: billing holds a posting of the channel the hub has no payment for that day;
* ``unreadable_line``: a line of the file that is not a settlement line.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Engine

from hub.models.bills import ReconciliationItem, ReconciliationRun, ledger_lines, settlement_lines
from hub.models.meta import utcnow

SETTLEMENT_HEADER = ("transaction_id", "amount", "paid_on")
CATEGORIES = (
    "matched",
    "missing_in_hub",
    "missing_at_channel",
    "missing_in_billing",
    "amount_differs",
    "duplicate_at_channel",
    "not_yet_posted",
    "in_suspense",
    "billing_only",
    "unreadable_line",
)
BATCH = 20_000
_TXN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,9})(?:\.([0-9]{1,2}))?")


def paise(text_amount: str) -> int | None:
    match = _AMOUNT.fullmatch(text_amount)
    if match is None:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def _settlement_rows(lines: Iterable[str], unreadable: list[int]) -> Iterator[tuple[int, str, int]]:
    """(line number, transaction id, paise) for each readable line; unreadable line numbers noted."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != SETTLEMENT_HEADER:
        raise ValueError("the settlement file must start with " + ",".join(SETTLEMENT_HEADER))
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        amount = paise(row[1].strip()) if len(row) == 3 else None
        txn = row[0].strip() if row else ""
        if amount is None or not _TXN.fullmatch(txn):
            if len(unreadable) < 10_000:
                unreadable.append(number)
            continue
        yield number, txn, amount


def _ledger_fields(line: str) -> tuple[str, int]:
    reference, amount = line.rstrip("\n").split("\t")
    return reference, int(amount)


class Reconciler:
    def __init__(self, engine: Engine, batch: int = BATCH) -> None:
        self.engine = engine
        self.batch = batch

    def run(
        self,
        channel: str,
        day: date,
        source: str,
        lines: Iterable[str],
        ledger: Iterable[Any],
        started_by: str,
    ) -> int:
        """Load, match, keep the unmatched; returns the run's id. ``ledger``: billing's payments
        of the day (LedgerPayment), streamed."""
        with self.engine.begin() as conn:
            run_id = int(
                conn.execute(
                    insert(ReconciliationRun)
                    .values(
                        channel=channel,
                        day=day,
                        source=source[:200],
                        lines=0,
                        counts={},
                        started_by=started_by[:64],
                        started_at=utcnow(),
                    )
                    .returning(ReconciliationRun.id)
                ).scalar_one()
            )
        unreadable: list[int] = []
        prefix = f"HUB-{channel}-"
        try:
            # Billing's answer is spooled to disk first: its read must not overlap the load's
            # write transaction (SQLite has one writer, and billing may share the database).
            with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
                for posting in ledger:
                    if posting.reference.startswith(prefix):
                        spool.write(f"{posting.reference}\t{int(posting.amount * 100)}\n")
                spool.seek(0)
                with self.engine.begin() as conn:
                    loaded = self._load(
                        conn,
                        "bill_settlement_lines",
                        ("run_id", "line_no", "transaction_id", "amount_paise"),
                        ((run_id, n, t, a) for n, t, a in _settlement_rows(lines, unreadable)),
                    )
                    self._load(
                        conn,
                        "bill_ledger_lines",
                        ("run_id", "reference", "amount_paise"),
                        ((run_id, *_ledger_fields(line)) for line in spool),
                    )
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("ANALYZE bill_settlement_lines"))
                    conn.execute(text("ANALYZE bill_ledger_lines"))
                counts = self._match(conn, run_id, channel, day, unreadable)
                conn.execute(
                    update(ReconciliationRun)
                    .where(ReconciliationRun.id == run_id)
                    .values(lines=loaded + len(unreadable), counts=counts, finished_at=utcnow())
                )
        finally:
            with self.engine.begin() as conn:
                conn.execute(settlement_lines.delete().where(settlement_lines.c.run_id == run_id))
                conn.execute(ledger_lines.delete().where(ledger_lines.c.run_id == run_id))
        return run_id

    def _load(
        self, conn: Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
    ) -> int:
        count = 0
        if conn.dialect.name == "postgresql":
            driver = conn.connection.driver_connection
            assert driver is not None
            copy_statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(copy_statement) as copy:
                buffer = io.StringIO()
                for row in rows:
                    # Identifiers are checked against a pattern without tabs or backslashes.
                    buffer.write("\t".join(str(v) for v in row))
                    buffer.write("\n")
                    count += 1
                    if count % self.batch == 0:
                        copy.write(buffer.getvalue())
                        buffer = io.StringIO()
                copy.write(buffer.getvalue())
            return count
        target = settlement_lines if table == "bill_settlement_lines" else ledger_lines
        statement = insert(target).values({c: bindparam(c) for c in columns})  # executemany
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(dict(zip(columns, row, strict=True)))
            count += 1
            if len(chunk) == self.batch:
                conn.execute(statement, chunk)
                chunk = []
        if chunk:
            conn.execute(statement, chunk)
        return count

    def _match(
        self, conn: Connection, run_id: int, channel: str, day: date, unreadable: list[int]
    ) -> dict[str, int]:
        params = {"run": run_id, "channel": channel, "day": day}
        # One row per transaction of the file (duplicates counted apart), against the hub and billing.
        conn.execute(
            text(
                """
                INSERT INTO bill_reconciliation_items
                    (run_id, category, transaction_id, payment_id, channel_amount_paise,
                     hub_amount_paise, billing_amount_paise, state)
                SELECT :run, category, transaction_id, payment_id, channel_paise, hub_paise, billing_paise, 'open'
                FROM (
                    SELECT s.transaction_id, p.id AS payment_id, s.amount_paise AS channel_paise,
                           CAST(ROUND(p.amount * 100) AS BIGINT) AS hub_paise, l.amount_paise AS billing_paise,
                           CASE
                             WHEN s.copies > 1 THEN 'duplicate_at_channel'
                             WHEN p.id IS NULL THEN 'missing_in_hub'
                             WHEN s.amount_paise <> CAST(ROUND(p.amount * 100) AS BIGINT) THEN 'amount_differs'
                             WHEN p.state = 'suspense' THEN 'in_suspense'
                             WHEN p.state IN ('accepted', 'posting') THEN 'not_yet_posted'
                             WHEN l.reference IS NULL THEN 'missing_in_billing'
                             WHEN l.amount_paise <> CAST(ROUND(p.amount * 100) AS BIGINT) THEN 'amount_differs'
                             ELSE 'matched'
                           END AS category
                    FROM (
                        SELECT transaction_id, MIN(amount_paise) AS amount_paise, COUNT(*) AS copies
                        FROM bill_settlement_lines WHERE run_id = :run GROUP BY transaction_id
                    ) s
                    LEFT JOIN bill_payments p
                      ON p.channel = :channel AND p.transaction_id = s.transaction_id AND p.state <> 'refunded'
                    LEFT JOIN bill_ledger_lines l ON l.run_id = :run AND l.reference = p.billing_reference
                ) matched
                WHERE category <> 'matched'
                """
            ),
            params,
        )
        # The hub's payments of the day that the channel did not settle.
        conn.execute(
            text(
                """
                INSERT INTO bill_reconciliation_items
                    (run_id, category, transaction_id, payment_id, channel_amount_paise,
                     hub_amount_paise, billing_amount_paise, state)
                SELECT :run, 'missing_at_channel', p.transaction_id, p.id, NULL, CAST(ROUND(p.amount * 100) AS BIGINT), NULL, 'open'
                FROM bill_payments p
                WHERE p.channel = :channel AND p.paid_on = :day AND p.state <> 'refunded'
                  AND NOT EXISTS (
                    SELECT 1 FROM bill_settlement_lines s
                    WHERE s.run_id = :run AND s.transaction_id = p.transaction_id
                  )
                """
            ),
            params,
        )
        # Billing's postings of the channel that day with no hub payment of that day behind them.
        conn.execute(
            text(
                """
                INSERT INTO bill_reconciliation_items
                    (run_id, category, transaction_id, payment_id, channel_amount_paise,
                     hub_amount_paise, billing_amount_paise, state)
                SELECT :run, 'billing_only', l.reference, NULL, NULL, NULL, l.amount_paise, 'open'
                FROM bill_ledger_lines l
                WHERE l.run_id = :run AND NOT EXISTS (
                    SELECT 1 FROM bill_payments p
                    WHERE p.billing_reference = l.reference AND p.channel = :channel AND p.paid_on = :day
                )
                """
            ),
            params,
        )
        if unreadable:
            conn.execute(
                insert(ReconciliationItem),
                [
                    {
                        "run_id": run_id,
                        "category": "unreadable_line",
                        "transaction_id": f"line {n}",
                        "state": "open",
                    }
                    for n in unreadable
                ],
            )
        counts = {category: 0 for category in CATEGORIES}
        for category, count in conn.execute(
            select(ReconciliationItem.category, func.count())
            .where(ReconciliationItem.run_id == run_id)
            .group_by(ReconciliationItem.category)
        ):
            counts[category] = int(count)
        distinct = conn.execute(
            select(func.count(func.distinct(settlement_lines.c.transaction_id))).where(
                settlement_lines.c.run_id == run_id
            )
        ).scalar_one()
        from_file = sum(
            counts[c]
            for c in (
                "missing_in_hub",
                "amount_differs",
                "duplicate_at_channel",
                "not_yet_posted",
                "in_suspense",
                "missing_in_billing",
            )
        )
        counts["matched"] = int(distinct) - from_file
        return counts


def report_csv(conn: Connection, run_id: int) -> Iterator[bytes]:
    """The run's unmatched items as CSV, streamed."""
    header = (
        "category",
        "transaction_id",
        "payment_id",
        "channel_amount",
        "hub_amount",
        "billing_amount",
        "state",
    )

    def rupees(value: int | None) -> str:
        return "" if value is None else f"{value // 100}.{value % 100:02d}"

    yield (",".join(header) + "\n").encode()
    rows = conn.execution_options(yield_per=5000).execute(
        select(
            ReconciliationItem.category,
            ReconciliationItem.transaction_id,
            ReconciliationItem.payment_id,
            ReconciliationItem.channel_amount_paise,
            ReconciliationItem.hub_amount_paise,
            ReconciliationItem.billing_amount_paise,
            ReconciliationItem.state,
        )
        .where(ReconciliationItem.run_id == run_id)
        .order_by(ReconciliationItem.category, ReconciliationItem.id)
    )
    for row in rows:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(
            [row[0], row[1] or "", row[2] or "", rupees(row[3]), rupees(row[4]), rupees(row[5]), row[6]]
        )
        yield out.getvalue().encode()
