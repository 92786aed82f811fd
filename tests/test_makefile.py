"""The quick-start targets serve a hub whose published addresses follow HOST and PORT."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", ["serve", "worker", "run"])
def test_published_addresses_follow_host_and_port(target: str) -> None:
    dry_run = subprocess.run(
        [
            "make",
            "-s",
            "-n",
            "-o",
            "migrate",
            "-o",
            "demo-data",
            "-o",
            "setup",
            target,
            "HOST=127.0.0.2",
            "PORT=6611",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    url = "http://127.0.0.2:6611"
    for variable in ("HUB_PUBLIC_URL", "HUB_OAUTH_ISSUER"):
        assert f"{variable}={url} " in dry_run
    assert f"HUB_PAYMENT_CHECKOUT_URL={url}/reference/pay " in dry_run
    assert f"HUB_PAYMENT_CALLBACK_URL={url}/api/v1/connections/payments " in dry_run


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", ["serve", "worker", "demo-data"])
def test_data_dir_holds_the_reference_systems_store_too(target: str, tmp_path: Path) -> None:
    dry_run = subprocess.run(
        ["make", "-s", "-n", "-o", "migrate", "-o", "setup", "-o", "keys", target, f"DATA_DIR={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"HUB_DATABASE_URL='sqlite:///{tmp_path}/hub.sqlite'" in dry_run
    assert f"HUB_REFERENCE_DATABASE_URL=sqlite:///{tmp_path}/reference.sqlite " in dry_run
