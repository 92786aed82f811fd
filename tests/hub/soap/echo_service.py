"""The test service's handlers: what a real service (election, single window) would write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree
from pyramid.config import Configurator
from pyramid.request import Request

from connectors.errors import ConnectorUnavailable
from hub.errors import FieldError, Problem
from hub.soap import SoapCaller, SoapFault

HERE = Path(__file__).parent / "echo"
NS = "urn:discom-hub:test:echo:1"
E = "{" + NS + "}"
ACTION = "urn:discom-hub:test:echo:1/"
PATH = "/soap/echo"
OUTCOMES: list[str] = []


def _text(payload: etree._Element, name: str) -> str:
    return payload.findtext(E + name) or ""


def echo(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    times = int(payload.findtext(E + "times") or 1)
    answer = etree.Element(E + "EchoResponse", nsmap={"e": NS})
    etree.SubElement(answer, E + "greeting").text = " ".join(["नमस्ते " + _text(payload, "name")] * times)
    etree.SubElement(answer, E + "clientId").text = caller.client_id
    etree.SubElement(answer, E + "method").text = caller.method
    return answer


def echo_evidence(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    answer = etree.Element(E + "EchoEvidenceResponse", nsmap={"e": NS})
    etree.SubElement(answer, E + "greeting").text = "प्रमाणित " + _text(payload, "name")
    return answer


def trouble(request: Request, payload: etree._Element, caller: SoapCaller) -> Any:
    kind = _text(payload, "kind")
    if kind == "fault":
        raise SoapFault("conflict")
    if kind == "problem":
        raise Problem(
            "validation_failed", "the name is not known", errors=[FieldError("name", "unknown", "x")]
        )
    if kind == "unavailable":
        raise ConnectorUnavailable("billing is down", system="billing")
    if kind == "write-then-fail":
        # What happens to the unit of work: the test reads OUTCOMES.
        txn = request.tm.get()
        txn.addAfterCommitHook(lambda ok: OUTCOMES.append("committed"))
        txn.addAfterAbortHook(lambda: OUTCOMES.append("aborted"))
        raise SoapFault("conflict")
    if kind == "not-an-element":
        return "<e:TroubleResponse/>"
    raise RuntimeError("secret internal detail /etc/passwd")


def add_echo_service(config: Configurator) -> None:
    config.add_soap_service(
        "echo",
        PATH,
        HERE / "echo.wsdl",
        [HERE / "echo.xsd", HERE / "common.xsd"],
        handlers={"Echo": echo, "EchoEvidence": echo_evidence, "Trouble": trouble},
        scopes_by_operation={
            "Echo": ["hub:ping"],
            "EchoEvidence": ["certificates:verify"],
            "Trouble": ["hub:ping"],
        },
        signed_operations=["EchoEvidence"],
    )
