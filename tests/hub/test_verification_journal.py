"""The deferred verification journal's writer: how much one wake writes (hub.verifications)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

import hub.verifications as verifications
from hub.documents import VerificationResult
from hub.verifications import WRITE_CHUNK, Verification, VerificationJournal

AT = datetime(2026, 11, 23, 4, 5, 6, tzinfo=UTC)


class _Session:
    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass


def _row(i: int) -> Verification:
    return Verification(AT, f"MPCZ/ND/2026-27/{i:07d}", "code", "valid", "client:c", "c", i)


@pytest.fixture()
def journal(monkeypatch: pytest.MonkeyPatch) -> tuple[VerificationJournal, list[int]]:
    """A journal whose every write sees 20 more verifications arrive while it is on the wire."""
    held = VerificationJournal(_Session, deferred=True)  # type: ignore[arg-type]
    writes: list[int] = []

    def write(session: Any, rows: Sequence[Verification]) -> None:
        writes.append(len(rows))
        if len(writes) < 100:  # a bound, so that a writer that never stops still ends the test
            held._pending.extend(_row(i) for i in range(20))

    monkeypatch.setattr(verifications, "write_verifications", write)
    return held, writes


def test_one_wake_writes_what_is_held_once_and_leaves_late_rows_for_the_next(
    journal: tuple[VerificationJournal, list[int]],
) -> None:
    held, writes = journal
    held._pending.extend(_row(i) for i in range(360))
    assert held.write_due() == 360
    assert writes == [360]
    assert held.pending == 20  # arrived during the write: the next wake takes them


def test_a_backlog_of_whole_chunks_is_written_at_once(journal: tuple[VerificationJournal, list[int]]) -> None:
    held, writes = journal
    held._pending.extend(_row(i) for i in range(2 * WRITE_CHUNK + 5))
    assert held.write_due() == 2 * WRITE_CHUNK + 45
    assert writes == [WRITE_CHUNK, WRITE_CHUNK, 45]
    assert held.pending == 20


def test_texts_are_cut_to_their_columns_when_recorded(journal: tuple[VerificationJournal, list[int]]) -> None:
    held, _writes = journal
    held.flush_seconds = 3600  # the writer thread sleeps: the held row is read below
    try:
        held.record(lambda: None, [VerificationResult("unknown", "N" * 100)], "code", "v" * 300, "c", AT)  # type: ignore[arg-type, return-value]
    finally:
        held.stop()
    (row,) = held._pending
    held._pending.clear()  # nothing for the writer's exit flush (this test's session is a stand-in)
    assert row == Verification(AT, "N" * 64, "code", "unknown", "v" * 200, "c", None)
