"""The officers' work queue: a small server-rendered console, the same for every workflow.

It knows nothing about no-dues certificates or new connections. Each workflow
registers a :class:`CaseProvider` with ``config.add_console_provider(name,
provider)``; the console lists the open cases waiting on the signed-in
officer's roles in the officer's offices (``WorkflowRegistry.queue``, least
time left first), renders a case from what its provider says (summary,
evidence), offers the actions the workflow allows the officer's roles
(``allowed_actions``) and takes them through ``WorkflowRegistry.act``, so the
workflow's listeners do the rest (documents, SMS, audit).

Sessions are signed cookies (``hub.secret_key``, HttpOnly, SameSite=Lax,
Secure unless ``hub.console.secure_cookie = false``); every POST carries a
CSRF token. The pages are public for the API deriver (no bearer token) and
check the officer's sign-in themselves.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import jinja2
from pyramid.config import Configurator
from pyramid.session import SignedCookieSessionFactory
from sqlalchemy.orm import Session

from hub.lookup import registered
from hub.models.workflow import WorkflowCase


@dataclass(frozen=True)
class Field:
    """One labelled value on a case page (Hindi and English label)."""

    label_hi: str
    label_en: str
    value: str


@dataclass(frozen=True)
class Evidence:
    """A table of evidence: column labels and rows of text; ``failed`` rows are highlighted.

    A ``collapsed`` table is shown folded (``<details>``) under its title: long detail the
    officer opens when the case summary is not enough.
    """

    title_hi: str
    title_en: str
    columns: Sequence[tuple[str, str]]
    rows: Sequence[Sequence[str]]
    failed: Sequence[bool] = ()
    collapsed: bool = False


@dataclass(frozen=True)
class Link:
    """A document or page about the case, by route name (the console builds the URL)."""

    label_hi: str
    label_en: str
    route: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseView:
    title: str
    summary: Sequence[Field] = ()
    evidence: Sequence[Evidence] = ()
    notes: Sequence[str] = field(default_factory=tuple)
    links: Sequence[Link] = ()


class CaseProvider(Protocol):
    """What a workflow tells the console about one of its cases."""

    def title(self, session: Session, case: WorkflowCase) -> str: ...

    def case_view(self, session: Session, case: WorkflowCase) -> CaseView: ...


class CaseProviders(dict[str, CaseProvider]):
    """The case pages' providers, by workflow (``config.add_console_provider``)."""


class ConsoleTemplates(jinja2.Environment):
    """The console's page templates (hub/console/templates), autoescaped."""


def add_console_provider(config: Configurator, workflow: str, provider: CaseProvider) -> None:
    """``config.add_console_provider(workflow_name, provider)``."""

    def register() -> None:
        registered(config.registry, CaseProviders)[workflow] = provider

    config.action(("hub.console.provider", workflow), register)


def session_secret(secret_key: str) -> str:
    # A key of its own, derived from hub.secret_key, so a session cookie never signs with the master key.
    return hmac.new(secret_key.encode(), b"hub.console.session", hashlib.sha256).hexdigest()


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    templates = ConsoleTemplates(
        loader=jinja2.PackageLoader("hub.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    from hub.console.labels import value_label

    templates.filters["words"] = value_label
    config.register_service(templates, ConsoleTemplates)
    config.set_session_factory(
        SignedCookieSessionFactory(
            session_secret(str(settings["hub.secret_key"])),
            cookie_name="hub_console",
            path="/console",
            secure=bool(settings["hub.console.secure_cookie"]),
            httponly=True,
            samesite="Lax",
            timeout=int(settings["hub.console.session_minutes"]) * 60,
            reissue_time=60,
        )
    )
    config.add_directive("add_console_provider", add_console_provider)
    from hub.console import queues, views, work

    views.includeme(config)
    work.includeme(config)
    # Before the flows' includes: they register their queue sources with it.
    queues.includeme(config)
