"""KYC for DBT schemes: consented, minimal, audited pulls; consent and disclosures for the person.

``config.include("hub.kyc")`` wires it: the bank-account key for hub.kycstore,
the settings (``hub.kyc_api.*``, see hub.kyc.limits.KycApiSettings), the
shared-counter limits, the cursor signer, the REST views, and the periodic
sync from the KYC connector for hub-worker.
"""

from __future__ import annotations

from pyramid.config import Configurator

from connectors.kyc import IKyc
from hub import kycstore
from hub.kyc.cursor import CursorSigner
from hub.kyc.limits import KycApiSettings, KycLimits
from hub.lookup import process_service
from hub.ratelimit import SharedCounters
from hub.systems import find_connector


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    kycstore.configure(settings["hub.secret_key"])
    api_settings = KycApiSettings.from_settings(settings)
    registry = config.registry
    config.register_service(api_settings, KycApiSettings)
    config.register_service(
        KycLimits(process_service(registry, SharedCounters).counter, api_settings), KycLimits
    )
    config.register_service(CursorSigner(settings["hub.secret_key"]), CursorSigner)
    config.include("hub.kyc.views")
    _register_sync(config, api_settings)


def _register_sync(config: Configurator, api_settings: KycApiSettings) -> None:
    """Offer the connector sync to hub-worker as a periodic job (hub.periodic)."""
    from functools import partial

    from hub.kyc.sync import kyc_sync_job

    registry = config.registry
    kyc = find_connector(registry, IKyc)
    if kyc is None:
        return
    job = partial(
        kyc_sync_job,
        registry,
        kyc,
        api_settings.sync_page,
        config.get_settings()["hub.secret_key"],
    )
    config.add_periodic_job("kyc.sync", float(api_settings.sync_interval_seconds), job)
