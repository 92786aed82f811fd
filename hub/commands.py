"""What every ``hub-admin`` command shares: its settings, an engine, a unit of work.

hub.cli only dispatches; the commands of a flow live in that flow's ``cli.py`` and use this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from pyramid.registry import Registry
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hub.systems import Connectors


def load_settings(ini: str) -> dict[str, Any]:
    """The app's settings from ``ini`` with the environment overlay, validated."""
    from plaster import get_settings

    from hub import settings as hub_settings

    raw = dict(get_settings(ini, "app:main"))
    merged = hub_settings.overlay_environment(raw)
    hub_settings.validate(merged)
    return merged


def engine_for(settings: dict[str, Any]) -> Engine:
    from hub.db import make_engine

    return make_engine(settings["hub.database_url"], pool_size=2, writer=True)


def reference_store_for(settings: dict[str, Any]) -> Engine | None:
    """The reference backends' own store, its tables created if missing (None when not configured)."""
    from connectors.reference_db import open_reference_store

    url = settings["hub.reference.database_url"]
    return open_reference_store(url, pool_size=2) if url else None


@contextmanager
def session_scope(settings: dict[str, Any]) -> Iterator[Session]:
    """One transaction (hub.outbox.unit_of_work): committed when the block ends normally,
    rolled back otherwise. Outbox messages it writes wait for the worker's sweep."""
    from hub.db import standalone_registry
    from hub.outbox import unit_of_work

    engine = engine_for(settings)
    try:
        with unit_of_work(standalone_registry(engine)) as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def outside_systems(settings: dict[str, Any]) -> Iterator[tuple[Registry, Connectors]]:
    """For a command that works with the outside systems: a registry holding only the
    database, and the configured connectors; the engine and the reference store closed after."""
    from hub.db import standalone_registry
    from hub.systems import build_connectors

    engine = engine_for(settings)
    reference_store = reference_store_for(settings)
    try:
        yield standalone_registry(engine), build_connectors(settings, reference_store)
    finally:
        engine.dispose()
        if reference_store is not None:
            reference_store.dispose()


def sync_from(
    settings: dict[str, Any],
    system: str,
    sync: Callable[[Registry, Any], object],
    shown: Callable[[Any], Mapping[str, Any]] | None = None,
) -> int:
    """Run a feed's sync now, ``sync(registry, connector)`` (a registry holding only the database) with the connector of
    ``system``, and print its report (a dataclass) as JSON. Exit status 0, 1 if the system failed
    (what was applied before stays), 2 if no connector is configured."""
    import dataclasses
    import json
    import sys

    from connectors.errors import ConnectorError

    with outside_systems(settings) as (registry, connectors):
        connector = connectors.get(system)
        if connector is None:
            print(f"hub-admin: no {system} connector configured (hub.{system}.backend)", file=sys.stderr)
            return 2
        try:
            report = sync(registry, connector)
        except ConnectorError as exc:
            print(f"hub-admin: {system} failed: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(dict(shown(report)) if shown else dataclasses.asdict(report)))  # type: ignore[call-overload]
    return 0


class ExtractLoad(Protocol):
    loaded: int
    refused: list[tuple[int, str]]


def load_extract(
    settings: dict[str, Any],
    path: str,
    columns: set[str],
    load: Callable[[Session, Iterable[Mapping[str, str]]], ExtractLoad],
) -> int:
    """Load one of billing's CSV extracts with ``load`` in one unit of work; print what was loaded
    and each refused row by line. Exit status 0, 1 if a row was refused, 2 if a column is missing."""
    import csv
    import json
    import sys

    with open(path, newline="", encoding="utf-8") as source, session_scope(settings) as session:
        reader = csv.DictReader(source)
        missing = columns - set(reader.fieldnames or ())
        if missing:
            print(f"hub-admin: the extract lacks columns {sorted(missing)}", file=sys.stderr)
            return 2
        report = load(session, reader)
    print(json.dumps({"loaded": report.loaded, "refused": len(report.refused)}))
    for line, what in report.refused[:100]:
        print(json.dumps({"line": line, "refused": what}))
    return 0 if not report.refused else 1
