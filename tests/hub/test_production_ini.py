"""production.ini is a working template: with its secrets in the environment it builds every real client."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from hub.settings import overlay_environment
from hub.systems import SYSTEMS, build_connectors

ROOT = Path(__file__).resolve().parents[2]


def test_production_ini_names_a_real_client_for_every_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "production.ini")
    ini = dict(parser["app:main"])
    jws_key = tmp_path / "sw.pem"
    jws_key.write_bytes(ECKey.generate_key("P-256").as_pem(private=True))
    secrets = {
        "HUB_PAYMENT_KEY_ID": "key",
        "HUB_PAYMENT_KEY_SECRET": "secret",
        "HUB_PAYMENT_CALLBACK_SECRET": "callback-secret-of-the-gateway",
        "HUB_HEADEND_API_KEY": "hes-key",
        "HUB_SINGLEWINDOW_JWS_KEY_FILE": str(jws_key),
        "HUB_SINGLEWINDOW_JWS_KID": "hub-1",
        "HUB_DBT_TOKEN": "dbt-token",
        "HUB_SMS_API_KEY": "sms-key",
        "HUB_KYC_API_KEY": "kyc-key",
        "HUB_SAMAGRA_API_KEY": "samagra-key",
        "HUB_NETWORK_API_KEY": "gis-key",
        "HUB_WHATSAPP_ACCESS_TOKEN": "graph-token",
        "HUB_BBPS_KEY": "bbps-key",
        "HUB_CITIZEN_PORTAL_KEY": "portal-key",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    built = build_connectors(overlay_environment(ini), None)
    assert set(built) == set(SYSTEMS)
    assert not [name for name, c in built.items() if type(c).__module__.endswith((".reference", "demo"))]


def _sms_templates(ini_file: str) -> set[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / ini_file)
    return {key for key in parser["app:main"] if key.startswith("hub.sms.template.")}


def test_production_registers_every_sms_template_development_sends() -> None:
    # An SMS whose DLT template is not registered is refused by the gateway: the holder of a
    # revoked certificate, or a complainant, would never be told.
    assert _sms_templates("production.ini") == _sms_templates("development.ini")
