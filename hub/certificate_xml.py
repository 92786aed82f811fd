"""A certificate's own part of a verification answer, written once per registry entry.

An election verification answer (hub.election.soap, election.xsd's
``CertificateVerification``) is a head that depends on the question and the
moment (the number as asked, the status now) and a part that depends on the
certificate alone: its public summary, issue and validity times, revocation
details and whether it was superseded. That part is written here, as
exclusive-C14N UTF-8 bytes in the ``e:`` prefix every election payload binds to
``urn:discom-hub:election:1`` (hub.soap.payload's rules: text escaped as C14N
escapes it, no whitespace between elements).

The registry replica stores it with each entry (hub.registry), so an answer
splices it in instead of writing ~20 elements per certificate: at a thousand
items that writing was a third of a batch's time. Bytes, not text: a lookup
decodes them with no UTF-8 decoding (Devanagari names), and an answer joins
them with no encoding. Entries read from the
database get it from the same function. Changing what it writes changes the
replica's stored form: bump :data:`FORMAT` (tests/hub/election/test_soap_render.py
holds each format's fingerprint), and replicas of the old format are rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.soap.payload import escaped as _t

# Part of the replica's version (hub.registry.REPLICA_VERSION): entries store these bytes.
FORMAT = 1


def summary_xml(summary: Mapping[str, Any]) -> str:
    """The certificate's public summary, kind to purpose, in election.xsd's order.

    Every field that is present is written, escaped (the holder's name, the office, the purpose
    carry text from people); each certified connection's three fields are required by the XSD
    and written even if absent, with str() as the element-per-field builder wrote them.
    """
    kind = summary.get("kind")
    holder_name = summary.get("holder_name")
    issuer_office = summary.get("issuer_office")
    connections = summary.get("connections")
    no_connection = summary.get("no_connection")
    purpose = summary.get("purpose")
    if purpose is None:
        purpose_xml = ""
    else:
        description = purpose.get("description")
        election = purpose.get("election")
        body = purpose.get("body")
        ward = purpose.get("ward")
        purpose_xml = (
            "<e:purpose>"
            f"{'' if description is None else f'<e:description>{_t(description)}</e:description>'}"
            f"{'' if election is None else f'<e:election>{_t(election)}</e:election>'}"
            f"{'' if body is None else f'<e:body>{_t(body)}</e:body>'}"
            f"{'' if ward is None else f'<e:ward>{_t(ward)}</e:ward>'}"
            "</e:purpose>"
        )
    if connections is None:
        connections_xml = ""
    else:
        connections_xml = (
            "<e:connections>"
            + "".join(
                [
                    f"<e:connection><e:consumer_number>{_t(str(c.get('consumer_number', '')))}"
                    f"</e:consumer_number><e:dues>{_t(str(c.get('dues', '')))}</e:dues>"
                    f"<e:meter_status>{_t(str(c.get('meter_status', '')))}</e:meter_status></e:connection>"
                    for c in connections
                ]
            )
            + "</e:connections>"
        )
    return (
        f"{'' if kind is None else f'<e:kind>{_t(kind)}</e:kind>'}"
        f"{'' if holder_name is None else f'<e:holder_name>{_t(holder_name)}</e:holder_name>'}"
        f"{'' if issuer_office is None else f'<e:issuer_office>{_t(issuer_office)}</e:issuer_office>'}"
        f"{connections_xml}"
        f"{'' if no_connection is None else f'<e:no_connection>{_t(no_connection)}</e:no_connection>'}"
        f"{purpose_xml}"
    )


def certificate_xml(
    status: str,
    issued_at: str,
    valid_until: str,
    public_summary: Mapping[str, Any],
    revoked_at: str | None,
    revocation_reason: str | None,
    superseded_by_id: int | None,
) -> bytes:
    """The answer's fields that come from the certificate: summary, times, revocation, supersession.

    ``status`` is the registry row's (only "revoked" matters here: its details are written);
    the timestamps are ISO text (hub.registry.RegistryEntry), digits and "-:.+T", nothing to escape.
    Raises ValueError for text UTF-8 cannot carry (a lone surrogate), as an answer would.
    """
    tail = ""
    if status == "revoked":
        tail = ("" if revoked_at is None else f"<e:revoked_at>{revoked_at}</e:revoked_at>") + (
            ""
            if revocation_reason is None
            else f"<e:revocation_reason>{_t(revocation_reason)}</e:revocation_reason>"
        )
    if superseded_by_id is not None:
        tail += "<e:superseded>true</e:superseded>"
    return (
        f"{summary_xml(public_summary)}<e:issued_at>{issued_at}</e:issued_at>"
        f"<e:valid_until>{valid_until}</e:valid_until>{tail}"
    ).encode()
