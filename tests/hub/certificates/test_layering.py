"""Who may import whom: certificates know nothing of SOAP; REST and SOAP share no views."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded_after(module: str) -> set[str]:
    """The hub modules importing ``module`` loads, in a fresh interpreter."""
    code = f"import sys, {module}; print('\\n'.join(m for m in sys.modules if m.startswith('hub')))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("hub.certificates.views", {"hub.soap", "hub.election.soap", "hub.election"}),
        ("hub.election.views", {"hub.soap", "hub.election.soap"}),
        ("hub.election.soap", {"hub.certificates.views", "hub.election.views"}),
    ],
)
def test_a_layer_does_not_load_what_it_must_not_know(module: str, forbidden: set[str]) -> None:
    assert loaded_after(module) & forbidden == set()
