# zope.interface methods have no self and no body:
# mypy: disable-error-code="empty-body,misc"
# ruff: noqa: N805
"""Samagra: Madhya Pradesh's state person registry (the Samagra social registry).

Every resident is a member with a 9-digit member ID (``samagra_id``) in a
family with an 8-digit family ID. The hub asks it who a Samagra ID is before
a certificate names that person: whether the ID exists, the person's name in
Devanagari and Latin script, and the mobile on record (where the hub sends
the OTP that proves the applicant holds that identity).

ini::

    hub.samagra.backend = connectors.samagra.reference:ReferenceSamagra   # ref_ tables (demo, tests)
    hub.samagra.backend = connectors.samagra.rest:RestSamagra             # the registry's REST API

Every method may raise ConnectorUnavailable (registry down, slow, garbage:
decide nothing) or NotFound (no such member).
"""

from __future__ import annotations

from dataclasses import dataclass

from zope.interface import Interface

SYSTEM = "samagra"


@dataclass(frozen=True)
class SamagraPerson:
    """A member as the registry records them."""

    samagra_id: str
    family_id: str
    name_hi: str
    name_en: str
    # The mobile on record; None when the member registered none.
    mobile: str | None


class ISamagra(Interface):
    """The Samagra registry as the hub sees it."""

    def get_person(samagra_id: str) -> SamagraPerson:
        """The member with this ID. NotFound: the registry has no such member (or the ID is malformed)."""

    def heartbeat() -> None:
        """Return if the registry answers; raise ConnectorUnavailable if not."""
