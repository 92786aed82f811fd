"""Errors every connector raises, so the hub can fail closed in one way."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every connector failure.

    ``code`` is a stable machine code the hub copies into problem+json and
    SOAP Faults; the message is for operators and never echoes partner data.
    """

    code = "connector_error"

    def __init__(self, message: str, *, system: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.system = system
        if code is not None:
            self.code = code


class ConnectorUnavailable(ConnectorError):
    """The outside system did not answer, timed out or answered garbage.

    A decision that depends on it must wait and retry: never decide on
    missing data.
    """

    code = "connector_unavailable"


class ConnectorRejected(ConnectorError):
    """The outside system answered, and the answer is no (e.g. unknown consumer)."""

    code = "connector_rejected"


class NotFound(ConnectorRejected):
    """The outside system does not know the thing asked about."""

    code = "not_found"
