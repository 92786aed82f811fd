"""``config.add_soap_service`` refuses, at startup, a service it could not serve safely."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pyramid.exceptions import ConfigurationError
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from hub import make_config
from hub.models.meta import utcnow
from hub.models.soap import SoapNonce
from hub.soap.security import RedisNonceStore, SqlNonceStore
from tests.hub.soap.echo_service import HERE, echo, echo_evidence, trouble

HANDLERS = {"Echo": echo, "EchoEvidence": echo_evidence, "Trouble": trouble}
SCOPES = {"Echo": ["hub:ping"], "EchoEvidence": ["certificates:verify"], "Trouble": ["hub:ping"]}
XSDS = [HERE / "echo.xsd", HERE / "common.xsd"]


@pytest.fixture()
def config(engine: Engine, app_settings: dict[str, Any]) -> Any:
    config = make_config({}, **{**app_settings, "hub.test_engine": engine})
    return config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"handlers": {"Echo": echo}}, "needs a handler"),
        ({"scopes_by_operation": {**SCOPES, "Echo": ["no:such:scope"]}}, "unknown scopes"),
        ({"handlers": {**HANDLERS, "Nope": echo}}, "unknown operations"),
        ({"signed_operations": ["Nope"]}, "unknown operations"),
        ({"xsd_files": [HERE / "echo.xsd"]}, "common.xsd"),
        ({"path": "/soap/{name}"}, "fixed absolute path"),
    ],
)
def test_misconfigured_services_fail_at_startup(config: Any, kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "name": "echo",
        "path": "/soap/echo",
        "wsdl_file": HERE / "echo.wsdl",
        "xsd_files": XSDS,
        "handlers": HANDLERS,
        "scopes_by_operation": SCOPES,
        **kwargs,
    }
    with pytest.raises(ConfigurationError, match=message):
        config.add_soap_service(**arguments)


def test_rpc_style_wsdl_is_refused(config: Any, tmp_path: Path) -> None:
    wsdl = (HERE / "echo.wsdl").read_text().replace('style="document"', 'style="rpc"')
    (tmp_path / "rpc.wsdl").write_text(wsdl)
    with pytest.raises(ConfigurationError, match="only document style"):
        config.add_soap_service("echo", "/soap/echo", tmp_path / "rpc.wsdl", XSDS, HANDLERS, SCOPES)


def test_sql_nonce_store_remembers_once_and_purges_expired(engine: Engine) -> None:
    store = SqlNonceStore(engine)
    now = utcnow()
    from datetime import timedelta

    try:
        assert store.remember("c_nonce_test", "AAAAAAAAAAAAAAAAAAAAAA==", now, now + timedelta(minutes=6))
        assert not store.remember("c_nonce_test", "AAAAAAAAAAAAAAAAAAAAAA==", now, now + timedelta(minutes=6))
        # The same nonce for another client is that client's own.
        assert store.remember("c_nonce_other", "AAAAAAAAAAAAAAAAAAAAAA==", now, now + timedelta(minutes=6))
        assert store.remember("c_nonce_test", "BBBBBBBBBBBBBBBBBBBBBB==", now, now - timedelta(seconds=1))
        assert store.purge_expired() >= 1
        with engine.connect() as conn:
            left = (
                conn.execute(select(SoapNonce.nonce).where(SoapNonce.client_id == "c_nonce_test"))
                .scalars()
                .all()
            )
        assert left == ["AAAAAAAAAAAAAAAAAAAAAA=="]
    finally:
        with engine.begin() as conn:
            conn.execute(delete(SoapNonce).where(SoapNonce.client_id.in_(["c_nonce_test", "c_nonce_other"])))


def test_redis_nonce_store_remembers_once() -> None:
    import secrets
    from datetime import timedelta

    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":  # CI always has Redis: a skip there would hide a failure
            raise
        pytest.skip("no Redis at 127.0.0.1:6379")
    store = RedisNonceStore("redis://127.0.0.1:6379/15", prefix=f"test:soap:{secrets.token_hex(4)}:")
    now = utcnow()
    assert store.remember("c_1", "AAAA", now, now + timedelta(minutes=6))
    assert not store.remember("c_1", "AAAA", now, now + timedelta(minutes=6))
    assert store.remember("c_2", "AAAA", now, now + timedelta(minutes=6))
