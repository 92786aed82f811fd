"""Daily reconciliation: a channel's settlement file against the hub's payments and billing's ledger.

The file and billing's ledger for the day are streamed into temporary staging
tables of the run's connection (on PostgreSQL the file's lines go in as they
are with COPY and are checked and split by one SQL statement; on SQLite they
are read in Python and inserted in big batches), then matched by a few SQL
statements (joins, GROUP BY for duplicates). Python never holds more than a
chunk, so a file of a million lines runs in flat memory. What does not match
is kept as items (office work, in the console and as CSV); what matches is
only counted. Every unreadable line is counted; the first 10,000 are kept as
items.

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
from itertools import islice
from typing import TextIO

from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.engine import Engine

from hub.models.bills import ReconciliationItem, ReconciliationRun
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


def _settlement_rows(lines: Iterable[str], unreadable: list[tuple[int]]) -> Iterator[tuple[int, str, int]]:
    """(line number, transaction id, paise) for each readable line after the header; unreadable
    line numbers noted."""
    for number, row in enumerate(csv.reader(lines), start=2):
        if not row:
            continue
        amount = paise(row[1].strip()) if len(row) == 3 else None
        txn = row[0].strip() if row else ""
        if amount is None or not _TXN.fullmatch(txn):
            unreadable.append((number,))
            continue
        yield number, txn, amount


_STAGING = (
    "CREATE TEMPORARY TABLE recon_raw (line_no INTEGER {identity}, line TEXT NOT NULL)",
    "CREATE TEMPORARY TABLE recon_settlement (line_no INTEGER NOT NULL, transaction_id VARCHAR(64) NOT NULL, "
    "amount_paise BIGINT NOT NULL)",
    # One row per transaction of the file: the lowest amount and how many lines carry it.
    "CREATE TEMPORARY TABLE recon_transactions (transaction_id VARCHAR(64) NOT NULL, amount_paise BIGINT NOT NULL, "
    "copies INTEGER NOT NULL)",
    "CREATE TEMPORARY TABLE recon_unreadable (line_no INTEGER NOT NULL)",
    "CREATE TEMPORARY TABLE recon_ledger (reference VARCHAR(64) NOT NULL, amount_paise BIGINT NOT NULL)",
)
_TABLES = ("recon_raw", "recon_settlement", "recon_transactions", "recon_unreadable", "recon_ledger")
# A settlement line as _settlement_rows reads it: three fields, an id and an amount in rupees
# (quotes and padding around a field ignored). Line 1 is the header: the n-th loaded line is line n + 1.
_SPLIT = """
    SELECT line_no + 1 AS line_no, BTRIM(SPLIT_PART(line, ',', 1), ' "') AS txn,
           BTRIM(SPLIT_PART(line, ',', 2), ' "') AS amount, line
    FROM recon_raw
"""
# (text(): a colon is escaped; bounded repeats are slow in PostgreSQL's regex engine, lengths are checked apart.)
_READABLE = (
    "line LIKE '%,%,%' AND line NOT LIKE '%,%,%,%' AND LENGTH(txn) <= 64 "
    "AND txn ~ '^[A-Za-z0-9][A-Za-z0-9_.\\:/-]*$' "
    "AND amount ~ '^(0|[1-9][0-9]*)([.][0-9][0-9]?)?$' AND LENGTH(SPLIT_PART(amount, '.', 1)) <= 10"
)
# The readable lines straight into one row per transaction: the lines are read once and never
# stored a second time.
_GROUP_READABLE = "".join(
    (
        "INSERT INTO recon_transactions (transaction_id, amount_paise, copies) ",
        "SELECT txn, MIN(CAST(CAST(amount AS NUMERIC(14, 2)) * 100 AS BIGINT)), COUNT(*) FROM (",
        _SPLIT,
        ") f WHERE ",
        _READABLE,
        " GROUP BY txn",
    )
)
# Only when some non-blank lines were not readable: their numbers, in a second pass.
_NOTE_UNREADABLE = "".join(
    (
        "INSERT INTO recon_unreadable (line_no) SELECT line_no FROM (",
        _SPLIT,
        ") f WHERE BTRIM(line, E' \\r') <> '' AND NOT (",
        _READABLE,
        ")",
    )
)
_GROUP_SETTLEMENT = (
    "INSERT INTO recon_transactions (transaction_id, amount_paise, copies) "
    "SELECT transaction_id, MIN(amount_paise), COUNT(*) FROM recon_settlement GROUP BY transaction_id"
)


def _create_staging(conn: Connection) -> None:
    identity = "GENERATED ALWAYS AS IDENTITY" if conn.dialect.name == "postgresql" else ""
    for statement in _STAGING:
        conn.execute(text(statement.format(identity=identity)))


def _drop_staging(conn: Connection) -> None:
    for table in _TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


def _escaped_lines(settlement: TextIO) -> Iterator[str]:
    """The file in big chunks, escaped for COPY's text format (one column: the whole line)."""
    while chunk := settlement.read(1 << 20):
        yield chunk.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r")


def _chunks(spool: TextIO) -> Iterator[str]:
    while chunk := spool.read(1 << 20):
        yield chunk


def _loaded(conn: Connection) -> int:
    """Readable lines loaded (every copy of a transaction counts)."""
    return int(conn.execute(text("SELECT COALESCE(SUM(copies), 0) FROM recon_transactions")).scalar_one())


def _parse_in_database(conn: Connection, lines: int) -> tuple[int, int]:
    """Group the ``lines`` loaded lines by transaction, note the unreadable ones; (loaded, unreadable)."""
    conn.execute(text(_GROUP_READABLE))
    loaded = _loaded(conn)
    if loaded < lines:  # blank lines, or some that are not settlement lines
        conn.execute(text(_NOTE_UNREADABLE))
    unreadable = conn.execute(text("SELECT COUNT(*) FROM recon_unreadable")).scalar_one()
    return loaded, int(unreadable)


class Reconciler:
    def __init__(self, engine: Engine, batch: int = BATCH) -> None:
        self.engine = engine
        self.batch = batch

    def run(
        self,
        channel: str,
        day: date,
        source: str,
        settlement: TextIO,
        ledger: Iterable[str],
        started_by: str,
    ) -> int:
        """Load, match, keep the unmatched; returns the run's id. ``settlement``: the channel's file
        (text); ``ledger``: billing's payments of the day as ``payments_posted_tsv`` chunks."""
        header = settlement.readline().lstrip("\ufeff")
        if tuple(h.strip() for h in header.split(",")) != SETTLEMENT_HEADER:
            raise ValueError("the settlement file must start with " + ",".join(SETTLEMENT_HEADER))
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
        # Billing's answer is spooled to disk first: its read must not overlap the load's
        # write transaction (SQLite has one writer, and billing may share the database).
        with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            for chunk in ledger:
                spool.write(chunk)
            spool.seek(0)
            # Staging is in temporary tables of this one connection: no other run sees them,
            # nothing is logged, and they are gone when the connection is returned.
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # A day's file is large: let the sorts and hashes of this one transaction
                    # stay in memory rather than spill to disk.
                    conn.execute(text("SET LOCAL work_mem = '128MB'"))
                _create_staging(conn)
                try:
                    if conn.dialect.name == "postgresql":
                        lines = self._copy(conn, "recon_raw (line)", _escaped_lines(settlement))
                        self._copy(conn, "recon_ledger (reference, amount_paise)", _chunks(spool))
                        loaded, unreadable = _parse_in_database(conn, lines)
                        conn.execute(text("ANALYZE recon_transactions"))
                        conn.execute(text("ANALYZE recon_ledger"))
                    else:
                        loaded, unreadable = self._insert_sqlite(conn, settlement, spool)
                    counts = self._match(conn, run_id, channel, day)
                    conn.execute(
                        update(ReconciliationRun)
                        .where(ReconciliationRun.id == run_id)
                        .values(lines=loaded + unreadable, counts=counts, finished_at=utcnow())
                    )
                finally:
                    _drop_staging(conn)
        return run_id

    def _copy(self, conn: Connection, target: str, chunks: Iterable[str]) -> int:
        """COPY the chunks into ``target``; the rows copied."""
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                for chunk in chunks:
                    copy.write(chunk)
            return int(cursor.rowcount)

    def _insert_sqlite(self, conn: Connection, settlement: TextIO, spool: TextIO) -> tuple[int, int]:
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        unreadable: list[tuple[int]] = []
        loaded = 0
        rows = _settlement_rows(settlement, unreadable)
        while chunk := list(islice(rows, self.batch)):
            cursor.executemany(
                "INSERT INTO recon_settlement (line_no, transaction_id, amount_paise) VALUES (?, ?, ?)", chunk
            )
            loaded += len(chunk)
        cursor.executemany("INSERT INTO recon_unreadable (line_no) VALUES (?)", unreadable)
        ledger = (line.rstrip("\n").split("\t") for line in spool)
        while chunk_ledger := list(islice(ledger, self.batch)):
            cursor.executemany(
                "INSERT INTO recon_ledger (reference, amount_paise) VALUES (?, ?)", chunk_ledger
            )
        cursor.execute(_GROUP_SETTLEMENT)
        cursor.close()
        return loaded, len(unreadable)

    def _match(self, conn: Connection, run_id: int, channel: str, day: date) -> dict[str, int]:
        params = {"run": run_id, "channel": channel, "day": day, "prefix": f"HUB-{channel}-"}
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
                    FROM recon_transactions s
                    LEFT JOIN bill_payments p
                      ON p.channel = :channel AND p.transaction_id = s.transaction_id AND p.state <> 'refunded'
                    LEFT JOIN recon_ledger l ON l.reference = p.billing_reference
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
                    SELECT 1 FROM recon_transactions s WHERE s.transaction_id = p.transaction_id
                  )
                """
            ),
            params,
        )
        # Billing's postings of the channel that day with no hub payment of that day behind them.
        conn.execute(
            text(
                """
                WITH day_references AS MATERIALIZED (
                    SELECT billing_reference FROM bill_payments WHERE channel = :channel AND paid_on = :day
                )
                INSERT INTO bill_reconciliation_items
                    (run_id, category, transaction_id, payment_id, channel_amount_paise,
                     hub_amount_paise, billing_amount_paise, state)
                SELECT :run, 'billing_only', l.reference, NULL, NULL, NULL, l.amount_paise, 'open'
                FROM recon_ledger l
                WHERE SUBSTR(l.reference, 1, LENGTH(:prefix)) = :prefix AND NOT EXISTS (
                    SELECT 1 FROM day_references d WHERE d.billing_reference = l.reference
                )
                """
            ),
            params,
        )
        # The first 10,000 unreadable lines are kept as items; all are counted.
        conn.execute(
            text(
                """
                INSERT INTO bill_reconciliation_items (run_id, category, transaction_id, state)
                SELECT :run, 'unreadable_line', 'line ' || CAST(line_no AS VARCHAR(12)), 'open'
                FROM (SELECT line_no FROM recon_unreadable ORDER BY line_no LIMIT 10000) first_lines
                """
            ),
            params,
        )
        counts = {category: 0 for category in CATEGORIES}
        for category, count in conn.execute(
            select(ReconciliationItem.category, func.count())
            .where(ReconciliationItem.run_id == run_id)
            .group_by(ReconciliationItem.category)
        ):
            counts[category] = int(count)
        distinct = conn.execute(text("SELECT COUNT(*) FROM recon_transactions")).scalar_one()
        counts["unreadable_line"] = int(
            conn.execute(text("SELECT COUNT(*) FROM recon_unreadable")).scalar_one()
        )
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
