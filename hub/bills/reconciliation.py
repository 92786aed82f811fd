"""Daily reconciliation: a channel's settlement file against the hub's payments and billing's ledger.

The file and billing's ledger for the day are streamed into temporary staging
tables of the run's connection, then matched by SQL. On PostgreSQL the file goes
in with COPY as CSV, every line checked plain on its way in; its lines are its
transactions when a unique index shows no id twice, else they are grouped by
transaction. A file with any line that is not plainly a settlement line (a
stray comma, quotes, a backslash, a blank line) is loaded again as whole lines
and checked and split in SQL, so every unreadable line is found with its number.
On SQLite the lines are read in Python and inserted in big batches. One pass
(the file's transactions FULL JOIN the channel's payments of the days around
the file's day FULL JOIN billing's ledger) finds every category at once and
keeps only the rows that are office work; a transaction of the file paid
outside those days is then looked up by its unique key. Python never holds
more than a chunk, so a file of a million lines runs in flat memory. What does not match
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
import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any, TextIO

import psycopg
from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.errors import ConnectorError
from connectors.settlement import SettlementReport
from hub import audit
from hub.errors import Problem
from hub.models.bills import ReconciliationItem, ReconciliationRun
from hub.models.meta import IST, utcnow

log = logging.getLogger(__name__)

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
# The hub's payments joined in one pass with the file: those paid this many days either side of
# the file's day (an index range); a transaction of the file paid outside it is looked up alone.
NEAR_DAYS = 3
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
    # The file as CSV fields, PostgreSQL's first try (no line numbers: it holds only plain lines).
    "CREATE TEMPORARY TABLE recon_fields (transaction_id TEXT, amount NUMERIC(14, 2), paid_on TEXT)",
    "CREATE TEMPORARY TABLE recon_settlement (line_no INTEGER NOT NULL, transaction_id VARCHAR(64) NOT NULL, "
    "amount_paise BIGINT NOT NULL)",
    # One row per transaction of the file: the lowest amount (rupees, as the hub's payments hold
    # it: the match compares without converting a million amounts) and how many lines carry it.
    "CREATE TEMPORARY TABLE recon_transactions (transaction_id VARCHAR(64) NOT NULL, amount NUMERIC(14, 2) NOT NULL, "
    "copies INTEGER NOT NULL)",
    "CREATE TEMPORARY TABLE recon_unreadable (line_no INTEGER NOT NULL)",
    "CREATE TEMPORARY TABLE recon_ledger (reference VARCHAR(64) NOT NULL, amount_paise BIGINT NOT NULL)",
    # The rows of the one-pass match that are office work (a few per cent of the file).
    "CREATE TEMPORARY TABLE recon_found (transaction_id VARCHAR(64), channel_amount NUMERIC(14, 2), copies INTEGER, "
    "payment_id BIGINT, payment_transaction_id VARCHAR(64), hub_amount NUMERIC(12, 2), state VARCHAR(12), paid_on DATE, "
    "payment_reference VARCHAR(64), reference VARCHAR(64), billing_paise BIGINT, looked_up INTEGER NOT NULL)",
)
_TABLES = (
    "recon_raw",
    "recon_fields",
    "recon_settlement",
    "recon_transactions",
    "recon_unreadable",
    "recon_ledger",
    "recon_found",
)
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
        "INSERT INTO recon_transactions (transaction_id, amount, copies) ",
        "SELECT txn, MIN(CAST(amount AS NUMERIC(14, 2))), COUNT(*) FROM (",
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
# A run of plain settlement lines as they come, each what _READABLE accepts with nothing
# PostgreSQL's CSV reading could take differently from the whole-line reading (no quote, backslash,
# blank or comma inside a field). Checked in Python on the way to COPY: a compiled pattern over a
# chunk costs a fraction of checking every line in SQL, and overlaps with the COPY.
_PLAIN_LINES = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63},(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,2})?,[^\",\\\s]*+\r?\n)*+"
)
# Longer than any plain line: the file is read again as whole lines rather than held here.
_PLAIN_LINE_MAX = 1 << 16
_TRANSACTIONS_VIEW = (
    "CREATE TEMPORARY VIEW recon_transactions AS SELECT transaction_id, amount, 1 AS copies FROM recon_fields"
)
_GROUP_FIELDS = (
    "INSERT INTO recon_transactions (transaction_id, amount, copies) "
    "SELECT transaction_id, MIN(amount), COUNT(*) FROM recon_fields GROUP BY transaction_id"
)
# The category of a transaction of the file, over recon_found's columns.
_CATEGORY = """CASE
    WHEN copies > 1 THEN 'duplicate_at_channel'
    WHEN payment_id IS NULL THEN 'missing_in_hub'
    WHEN channel_amount <> hub_amount THEN 'amount_differs'
    WHEN state = 'suspense' THEN 'in_suspense'
    WHEN state IN ('accepted', 'posting') THEN 'not_yet_posted'
    WHEN reference IS NULL THEN 'missing_in_billing'
    WHEN billing_paise <> ROUND(hub_amount * 100) THEN 'amount_differs'
    ELSE 'matched'
END"""
# A payment of the day the file does not settle (a row with no transaction of the file).
_MISSING_AT_CHANNEL = "(payment_id IS NOT NULL AND paid_on = :day AND state <> 'refunded')"
# A posting of the channel in billing's ledger that is not for a payment of the day.
# (Cheapest test first: it is asked of every row, and a matched row fails it there.)
_BILLING_ONLY = (
    "((payment_id IS NULL OR paid_on <> :day) AND reference IS NOT NULL AND looked_up = 0 "
    "AND SUBSTR(reference, 1, LENGTH(:prefix)) = :prefix)"
)
_GROUP_SETTLEMENT = (
    "INSERT INTO recon_transactions (transaction_id, amount, copies) "
    "SELECT transaction_id, MIN(amount_paise) / 100.0, COUNT(*) FROM recon_settlement GROUP BY transaction_id"
)


# One pass: the file's transactions, the channel's payments of the days around the file's day
# and billing's ledger, each row at most once; only the rows that are office work are kept. A
# refunded payment settles nothing, but its posting is still the day's.
_FIND = "".join(
    (
        """
        INSERT INTO recon_found
            (transaction_id, channel_amount, copies, payment_id, payment_transaction_id, hub_amount,
             state, paid_on, payment_reference, reference, billing_paise, looked_up)
        SELECT * FROM (
            SELECT s.transaction_id, s.amount AS channel_amount, s.copies, p.id AS payment_id,
                   p.transaction_id AS payment_transaction_id, p.amount AS hub_amount, p.state, p.paid_on,
                   p.billing_reference AS payment_reference, l.reference,
                   l.amount_paise AS billing_paise, 0 AS looked_up
            FROM recon_transactions s
            FULL JOIN (
                SELECT id, transaction_id, amount, state, paid_on, billing_reference
                FROM bill_payments
                WHERE channel = :channel AND paid_on BETWEEN :first AND :last
            ) p ON p.transaction_id = s.transaction_id AND p.state <> 'refunded'
            FULL JOIN recon_ledger l ON l.reference = p.billing_reference
        ) joined
        WHERE CASE WHEN transaction_id IS NOT NULL THEN """,
        _CATEGORY,
        " <> 'matched' ELSE ",
        _MISSING_AT_CHANNEL,
        " END OR ",
        _BILLING_ONLY,
    )
)
# Office work from the rows found: the file's transactions that do not match, the day's payments
# the file does not settle, postings that are billing's alone.
_ITEMS = "".join(
    (
        """
        INSERT INTO bill_reconciliation_items
            (run_id, category, transaction_id, payment_id, channel_amount_paise,
             hub_amount_paise, billing_amount_paise, state)
        SELECT :run, category, transaction_id, payment_id, CAST(ROUND(channel_amount * 100) AS BIGINT),
               CAST(ROUND(hub_amount * 100) AS BIGINT), billing_paise, 'open'
        FROM (
            SELECT """,
        _CATEGORY,
        """ AS category, transaction_id, payment_id, channel_amount, hub_amount, billing_paise
            FROM recon_found WHERE transaction_id IS NOT NULL
            UNION ALL
            SELECT 'missing_at_channel', payment_transaction_id, payment_id, NULL, hub_amount, NULL
            FROM recon_found WHERE transaction_id IS NULL AND """,
        _MISSING_AT_CHANNEL,
        """
            UNION ALL
            SELECT 'billing_only', reference, NULL, NULL, NULL, billing_paise
            FROM recon_found WHERE """,
        _BILLING_ONLY,
        """
        ) found
        WHERE category <> 'matched'
        """,
    )
)


def _create_staging(conn: Connection) -> None:
    identity = "GENERATED ALWAYS AS IDENTITY" if conn.dialect.name == "postgresql" else ""
    for statement in _STAGING:
        conn.execute(text(statement.format(identity=identity)))


def _drop_staging(conn: Connection) -> None:
    # (On PostgreSQL recon_transactions may be a view of recon_fields: it goes with it.)
    cascade = " CASCADE" if conn.dialect.name == "postgresql" else ""
    for table in _TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}{cascade}"))


def _escaped_lines(settlement: TextIO) -> Iterator[str]:
    """The file in big chunks, escaped for COPY's text format (one column: the whole line)."""
    while chunk := settlement.read(1 << 20):
        yield chunk.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r")


class _NotPlain(Exception):
    """The file has a line that PostgreSQL's CSV reading could take other than as one line of three
    plain fields: it is read again as whole lines."""


def _plain_chunks(settlement: TextIO, counted: list[int]) -> Iterator[str]:
    """The file in big chunks for COPY's CSV format, every line checked plain on the way (else
    _NotPlain); ``counted[0]``: its lines."""
    rest = ""  # a line cut by the chunk's end, checked with the next chunk
    while chunk := settlement.read(1 << 20):
        end = chunk.rfind("\n") + 1
        if end:
            if _PLAIN_LINES.fullmatch(rest + chunk[:end] if rest else chunk[:end]) is None:
                raise _NotPlain
            rest = chunk[end:]
        else:
            rest += chunk
        if len(rest) > _PLAIN_LINE_MAX:
            raise _NotPlain
        counted[0] += chunk.count("\n")
        yield chunk
    if rest:
        if _PLAIN_LINES.fullmatch(rest + "\n") is None:
            raise _NotPlain
        counted[0] += 1


@contextmanager
def _seekable(settlement: TextIO) -> Iterator[TextIO]:
    """The file, or a copy of it on disk when it cannot be read twice (a second reading may be needed)."""
    if settlement.seekable():
        yield settlement
        return
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spooled:
        spooled.writelines(_chunks(settlement))
        spooled.seek(0)
        yield spooled


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
        postgresql = self.engine.dialect.name == "postgresql"
        with ExitStack() as stack:
            if not postgresql:
                # On SQLite billing's answer is spooled to disk first: its read must not overlap
                # the load's write transaction (one writer, and billing may share the database).
                spool = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
                for chunk in ledger:
                    spool.write(chunk)
                spool.seek(0)
            # The run, its staging, its items and its counts are one transaction: a run is
            # recorded whole or not at all. Staging is in temporary tables of this one
            # connection: no other run sees them, nothing is logged, and they are gone when
            # the connection is returned.
            with self.engine.begin() as conn:
                if postgresql:
                    # A day's file is large: let the sorts and hashes of this one transaction,
                    # and the unique index over the file's ids, stay in memory rather than spill
                    # to disk.
                    conn.execute(text("SET LOCAL work_mem = '128MB'"))
                    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
                    # The staging's statistics only steer the joins (sizes, which side to hash):
                    # a sample of 3,000 rows serves as well as the default 30,000.
                    conn.execute(text("SET LOCAL default_statistics_target = 10"))
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
                _create_staging(conn)
                try:
                    if postgresql:
                        # Billing's answer goes straight in as it comes: a billing that fails
                        # part-way aborts the COPY, and with it the whole run.
                        self._copy(conn, "recon_ledger (reference, amount_paise)", ledger)
                        loaded, unreadable, transactions = self._load_postgresql(
                            conn, stack.enter_context(_seekable(settlement))
                        )
                        conn.execute(text("ANALYZE recon_ledger"))
                    else:
                        loaded, unreadable = self._insert_sqlite(conn, settlement, spool)
                        transactions = None
                    counts = self._match(conn, run_id, channel, day, transactions)
                    conn.execute(
                        update(ReconciliationRun)
                        .where(ReconciliationRun.id == run_id)
                        .values(lines=loaded + unreadable, counts=counts, finished_at=utcnow())
                    )
                    # What an earlier run of this channel and day left open now stands as this
                    # run found it: the queue holds each day's latest standing once.
                    earlier = select(ReconciliationRun.id).where(
                        ReconciliationRun.channel == channel,
                        ReconciliationRun.day == day,
                        ReconciliationRun.id != run_id,
                    )
                    superseded = conn.execute(
                        update(ReconciliationItem)
                        .where(ReconciliationItem.run_id.in_(earlier), ReconciliationItem.state == "open")
                        .values(state="superseded")
                    ).rowcount
                    _audit_run(conn, run_id, channel, day, source, started_by, counts, superseded)
                except BaseException:
                    # PostgreSQL takes the staging away with the failed transaction (and refuses
                    # any statement before its rollback); SQLite's temporary tables are dropped.
                    if not postgresql:
                        _drop_staging(conn)
                    raise
                _drop_staging(conn)
        return run_id

    def _load_postgresql(self, conn: Connection, settlement: TextIO) -> tuple[int, int, int | None]:
        """The file's lines grouped by transaction into recon_transactions; (loaded, unreadable,
        the file's transactions when known without counting them).

        First as CSV fields, kept only when every line is a plain settlement line; otherwise
        (rolled back) as whole lines, checked and split in SQL, each unreadable line noted."""
        start = settlement.tell()
        fields = conn.begin_nested()
        counted = [0]
        try:
            copied = self._copy(conn, "recon_fields", _plain_chunks(settlement, counted), "(FORMAT csv)")
            if copied != counted[0]:  # a quoted field across lines
                raise _NotPlain
            distinct = self._distinct(conn)
            if distinct:
                conn.execute(text("DROP TABLE recon_transactions"))
                conn.execute(text(_TRANSACTIONS_VIEW))
                conn.execute(text("ANALYZE recon_fields"))
                loaded = copied
            else:
                conn.execute(text(_GROUP_FIELDS))
                loaded = _loaded(conn)
                if loaded != copied:
                    raise _NotPlain
                conn.execute(text("ANALYZE recon_transactions"))
        except (_NotPlain, psycopg.DataError):
            fields.rollback()
        else:
            fields.commit()
            # Every line its own transaction when recon_transactions is the view of the lines.
            return loaded, 0, (copied if distinct else None)
        settlement.seek(start)
        lines = self._copy(conn, "recon_raw (line)", _escaped_lines(settlement))
        loaded, unreadable = _parse_in_database(conn, lines)
        conn.execute(text("ANALYZE recon_transactions"))
        return loaded, unreadable, None

    def _distinct(self, conn: Connection) -> bool:
        """Whether no id is on two lines of the file: a unique index (byte order) says so at a
        fraction of the cost of grouping the lines, and fails only when there are duplicates."""
        index = conn.begin_nested()
        try:
            conn.execute(
                text('CREATE UNIQUE INDEX recon_fields_once ON recon_fields (transaction_id COLLATE "C")')
            )
        except IntegrityError:
            index.rollback()
            return False
        index.commit()
        return True

    def _copy(self, conn: Connection, target: str, chunks: Iterable[str], options: str = "") -> int:
        """COPY the chunks into ``target``; the rows copied."""
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY {target} FROM STDIN {options}") as copy:
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

    def _match(
        self, conn: Connection, run_id: int, channel: str, day: date, transactions: int | None
    ) -> dict[str, int]:
        params = {
            "run": run_id,
            "channel": channel,
            "day": day,
            "first": day - timedelta(days=NEAR_DAYS),
            "last": day + timedelta(days=NEAR_DAYS),
            "prefix": f"HUB-{channel}-",
        }
        conn.execute(text(_FIND), params)
        # A transaction of the file paid outside those days: its payment by its unique key, then
        # its posting in the ledger.
        looked_up = conn.execute(
            text(
                """
                UPDATE recon_found SET payment_id = p.id, payment_transaction_id = p.transaction_id,
                    hub_amount = p.amount, state = p.state, paid_on = p.paid_on,
                    payment_reference = p.billing_reference, looked_up = 1
                FROM bill_payments p
                WHERE recon_found.transaction_id IS NOT NULL AND recon_found.payment_id IS NULL
                  AND p.channel = :channel AND p.transaction_id = recon_found.transaction_id
                  AND p.state <> 'refunded'
                """
            ),
            params,
        ).rowcount
        if looked_up:
            conn.execute(
                text(
                    "UPDATE recon_found SET reference = l.reference, billing_paise = l.amount_paise "
                    "FROM recon_ledger l WHERE recon_found.looked_up = 1 "
                    "AND l.reference = recon_found.payment_reference"
                )
            )
        conn.execute(text(_ITEMS), params)
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
        if transactions is None:
            transactions = int(conn.execute(text("SELECT COUNT(*) FROM recon_transactions")).scalar_one())
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
        counts["matched"] = transactions - from_file
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


# -- the daily job and the office's work ------------------------------------------------------

RECONCILE_JOB = "bills.reconcile"  # hub-worker's periodic job
RECONCILE_KIND = "bills.reconcile"  # outbox: an officer's re-run of a channel's day
ITEM_SUBJECT = "reconciliation_item"
RUN_SUBJECT = "reconciliation_run"
ACTIONS = ("posted_to_billing", "refund_requested", "written_off")
# Days before yesterday still reconciled if never done (a worker that was down a few days).
LOOKBACK_DAYS = 7


class DailyReconciliation:
    """Each channel with a settlement report, for each day not yet reconciled: the report is read
    whole first (spooled), then one transaction takes billing's ledger and records the run. A
    channel or billing that cannot answer, even part-way, records nothing; the day is tried again
    on the next run."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        settlement_systems: dict[str, str],
        connectors: Callable[[str], Any],
        reconcile_at: tuple[int, int],
    ) -> None:
        self._engine = engine
        self.settlement_systems = settlement_systems  # channel -> connector system
        self.connectors = connectors
        self.reconcile_at = time(*reconcile_at)

    @property
    def engine(self) -> Engine:
        return self._engine()

    def due_days(self, now: datetime) -> list[date]:
        local = now.astimezone(IST)
        latest = local.date() - timedelta(days=1 if local.time() >= self.reconcile_at else 2)
        return [latest - timedelta(days=back) for back in range(LOOKBACK_DAYS, -1, -1)]

    def run_due(self, now: datetime | None = None) -> list[int]:
        """hub-worker's job: reconcile every due (channel, day) that has no finished run yet."""
        days = self.due_days(now or datetime.now(UTC))
        ran: list[int] = []
        for channel in self.settlement_systems:
            with self.engine.connect() as conn:
                done = set(
                    conn.execute(
                        select(ReconciliationRun.day).where(
                            ReconciliationRun.channel == channel,
                            ReconciliationRun.day.in_(days),
                            ReconciliationRun.finished_at.is_not(None),
                        )
                    ).scalars()
                )
            for day in days:
                if day in done:
                    continue
                try:
                    ran.append(self.reconcile(channel, day, "hub-worker"))
                except ConnectorError as exc:
                    # Fail closed: nothing of this day is recorded; the next run asks again.
                    log.warning(
                        "reconciliation waits: %s", exc, extra={"channel": channel, "day": day.isoformat()}
                    )
                    break
        return ran

    def reconcile(self, channel: str, day: date, started_by: str) -> int:
        """One run of ``channel``'s ``day`` from its settlement report (a re-run supersedes what an
        earlier run left open); ConnectorError if the channel or billing cannot answer."""
        system = self.settlement_systems.get(channel)
        if system is None:
            raise ValueError(f"channel {channel} has no settlement report (give its file)")
        source: SettlementReport = self.connectors(system)
        billing = self.connectors("billing")
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as report:
            for line in source.settlement_report(day):
                report.write(line + "\n")
            report.seek(0)
            return Reconciler(self.engine).run(
                channel,
                day,
                f"{system} settlement report",
                report,
                billing.payments_posted_tsv(day),
                started_by,
            )

    def on_rerun(self, message: Any, connectors: Mapping[str, Any]) -> None:
        """Outbox kind ``bills.reconcile`` ``{"channel", "day", "by"}``: an officer's re-run."""
        payload = message.payload
        self.reconcile(str(payload["channel"]), date.fromisoformat(str(payload["day"])), str(payload["by"]))


def _audit_run(
    conn: Connection,
    run_id: int,
    channel: str,
    day: date,
    source: str,
    started_by: str,
    counts: Mapping[str, int],
    superseded: int,
) -> None:
    """The run in the audit chain, in the run's own transaction: its items were made, and the
    earlier runs' open items superseded, by whom and from what."""
    with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        audit.record(
            session,
            started_by[:64],
            "bills.reconciliation_run",
            RUN_SUBJECT,
            str(run_id),
            {
                "channel": channel,
                "day": day.isoformat(),
                "source": source[:200],
                "counts": dict(counts),
                "superseded": superseded,
            },
        )
        session.commit()


def close_item(session: Session, item_id: int, action: str, note: str, officer: str) -> ReconciliationItem:
    """An officer closes an open item with an action and a reason; audited. Problem if the item is
    unknown (``not_found``) or no longer open (``conflict``)."""
    if action not in ACTIONS or not note:
        raise Problem("validation_failed", "an action and a reason are required")
    item = session.get(ReconciliationItem, item_id, with_for_update=True)
    if item is None:
        raise Problem("not_found")
    if item.state != "open":
        raise Problem("conflict", f"item {item_id} is {item.state}")
    item.state, item.action, item.note = "closed", action, note[:500]
    item.closed_by, item.closed_at = officer[:64], utcnow()
    audit.record(
        session,
        officer,
        f"bills.reconciliation_{action}",
        ITEM_SUBJECT,
        str(item.id),
        {
            "run_id": item.run_id,
            "category": item.category,
            "transaction_id": item.transaction_id,
            "note": note,
        },
    )
    return item
