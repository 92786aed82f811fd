"""Fixtures local to the KYC tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sqlite_template(sqlite_template: Path) -> Path:
    """The migrated template, with its WAL folded into the main file before live tests copy it.

    hub.migrate leaves its pooled connection open, so the schema can still sit
    in ``template.sqlite-wal``; a copy of the main file alone has no tables.
    """
    connection = sqlite3.connect(sqlite_template)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return sqlite_template
