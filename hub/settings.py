"""Settings: ini defaults, overridden by environment variables, checked at startup.

Each ``hub.*`` key may be overridden by an environment variable named
mechanically from it (``hub.database_url`` -> ``HUB_DATABASE_URL``,
``hub.billing.wsdl_url`` -> ``HUB_BILLING_WSDL_URL``). The app refuses to start
on a missing or malformed setting and names it, so a bad deployment fails at
boot and not on the first request that needs the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names it."""


def env_name(key: str) -> str:
    return key.upper().replace(".", "_").replace("-", "_")


def overlay_environment(
    settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Copy ``settings`` with every ``hub.*`` key replaced by its environment variable, if set.

    Environment variables for keys the ini does not mention are taken too, as
    long as they start with ``HUB_`` and name a key declared in SETTINGS:
    production secrets never need a line in the ini.
    """
    environ = os.environ if environ is None else environ
    merged = dict(settings)
    for key in set(merged) | {s.key for s in SETTINGS}:
        if key.startswith("hub.") and env_name(key) in environ:
            merged[key] = environ[env_name(key)]
    return merged


class ConnectorOptions(Mapping[str, str]):
    """A connector's options (``hub.<system>.*`` with the prefix stripped), each overridable by
    its environment variable (``hub.billing.wsdl_url`` -> ``HUB_BILLING_WSDL_URL``).

    Connector options are not declared in SETTINGS (each connector reads its own, and an
    environment variable name cannot be turned back into a dotted key unambiguously), so the
    variable is looked up when the connector asks for the option, by the same naming rule.
    """

    def __init__(
        self, prefix: str, options: Mapping[str, str], environ: Mapping[str, str] | None = None
    ) -> None:
        self._prefix = prefix.rstrip(".") + "."
        self._options = dict(options)
        self._environ = os.environ if environ is None else environ

    def __getitem__(self, key: str) -> str:
        name = env_name(self._prefix + key)
        if name in self._environ:
            return self._environ[name]
        return self._options[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (
            key in self._options or env_name(self._prefix + key) in self._environ
        )


def as_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def as_positive_int(raw: Any) -> int:
    value = int(str(raw).strip())
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def as_positive_float(raw: Any) -> float:
    value = float(str(raw).strip())
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def as_ratio(raw: Any) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError("must be above 0 and at most 1")
    return value


def as_text(raw: Any) -> str:
    text = str(raw).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def as_rupees(raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError("must be an amount in rupees, e.g. 10.00") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError("must be a non-negative amount in rupees with at most two decimals")
    return value.quantize(Decimal("0.01"))


def as_hour_range(raw: Any) -> tuple[int, int]:
    start, sep, end = str(raw).strip().partition("-")
    if not sep or not start.isdigit() or not end.isdigit() or not 0 <= int(start) < int(end) <= 24:
        raise ValueError("must be START-END hours with 0 <= START < END <= 24, e.g. 10-16")
    return int(start), int(end)


def as_time_of_day(raw: Any) -> tuple[int, int]:
    hours, sep, minutes = str(raw).strip().partition(":")
    if (
        not sep
        or len(minutes) != 2
        or not hours.isdigit()
        or not minutes.isdigit()
        or not (0 <= int(hours) < 24 and 0 <= int(minutes) < 60)
    ):
        raise ValueError("must be HH:MM (24-hour), e.g. 06:30")
    return int(hours), int(minutes)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def as_weekdays(raw: Any) -> frozenset[int]:
    names = str(raw).lower().split()
    if not names or any(n not in WEEKDAYS for n in names):
        raise ValueError(f"must be weekday names from {' '.join(WEEKDAYS)}")
    return frozenset(WEEKDAYS.index(n) for n in names)


def as_url(raw: Any) -> str:
    text = as_text(raw)
    if "://" not in text:
        raise ValueError("must be a URL")
    return text.rstrip("/")


def as_words(raw: Any) -> tuple[str, ...]:
    return tuple(str(raw).split())


def as_networks(raw: Any) -> tuple[IPv4Network | IPv6Network, ...]:
    """Addresses and CIDR blocks, separated by spaces or commas (a bare address is a /32 or /128)."""
    if isinstance(raw, tuple | list):
        raw = " ".join(str(item) for item in raw)
    return tuple(ip_network(word, strict=False) for word in str(raw).replace(",", " ").split())


def as_choice(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip()
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return parse


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Callable[[Any], Any]
    default: Any = None
    required: bool = False
    secret: bool = False
    doc: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "hub.database_url",
        as_text,
        required=True,
        doc="SQLAlchemy URL: sqlite:///var/hub.sqlite or postgresql+psycopg://...",
    ),
    Setting(
        "hub.database_pool_size",
        as_positive_int,
        16,
        doc="pooled connections per process: one per request thread (granian --blocking-threads); "
        "as many again may open for short side work (rate-limit counters, SOAP nonces)",
    ),
    Setting(
        "hub.reference.database_url",
        str,
        "",
        doc="SQLAlchemy URL of the reference backends' own store (never the hub's database): "
        "sqlite:///var/reference.sqlite in development; empty when only real systems are configured",
    ),
    Setting(
        "hub.public_url", as_url, "http://127.0.0.1:6543", doc="base URL printed on documents and QR codes"
    ),
    Setting(
        "hub.secret_key",
        as_text,
        required=True,
        secret=True,
        doc="encrypts OAuth signing keys and bank accounts at rest; signs sessions",
    ),
    Setting(
        "hub.keys_dir", as_text, "var/keys", doc="document signing keys (development CA is generated here)"
    ),
    Setting(
        "hub.keys_pkcs12", as_text, "", doc="production signing key + chain (PKCS#12); empty in development"
    ),
    Setting(
        "hub.keys_pkcs12_passphrase",
        str,
        "",
        secret=True,
        doc="passphrase of hub.keys_pkcs12; from the environment",
    ),
    Setting(
        "hub.keys_evidence_pkcs12",
        str,
        "",
        doc="production ECDSA P-256 key + certificate from the same CA that signs SOAP evidence (PKCS#12, "
        "passphrase hub.keys_pkcs12_passphrase); empty: evidence is signed with the document key (slow)",
    ),
    Setting(
        "hub.discom.code", as_text, "MPCZ", doc="the discom's short code, first part of document numbers"
    ),
    Setting(
        "hub.discom.name_en",
        as_text,
        "Madhya Pradesh Madhya Kshetra Vidyut Vitaran Company Limited",
        doc="the discom's name on documents (English)",
    ),
    Setting(
        "hub.discom.name_hi",
        as_text,
        "मध्य प्रदेश मध्य क्षेत्र विद्युत वितरण कंपनी लिमिटेड",
        doc="the discom's name on documents (Hindi)",
    ),
    Setting(
        "hub.documents.timestamp_url", str, "", doc="RFC 3161 timestamp authority: PAdES B-T instead of B-B"
    ),
    Setting(
        "hub.max_body_bytes",
        as_positive_int,
        1_048_576,
        doc="requests with a larger body get 413 before parsing",
    ),
    Setting(
        "hub.upload_max_body_bytes",
        as_positive_int,
        10_485_760,
        doc="cap for upload endpoints (CSV, XML documents)",
    ),
    Setting("hub.oauth.issuer", as_url, "http://127.0.0.1:6543", doc="iss of access tokens"),
    Setting("hub.oauth.audience", as_text, "discom-hub", doc="aud of access tokens"),
    Setting("hub.oauth.token_lifetime", as_positive_int, 900, doc="seconds an access token lives"),
    Setting(
        "hub.ratelimit.default_per_minute", as_positive_int, 6000, doc="requests a client may make per minute"
    ),
    Setting(
        "hub.ratelimit.public_per_minute",
        as_positive_int,
        120,
        doc="unauthenticated requests per minute per address (verification pages), and SOAP requests "
        "refused before their caller was known",
    ),
    Setting(
        "hub.trusted_proxies",
        as_networks,
        (),
        doc="addresses/CIDRs of the hub's own reverse proxies: only their X-Forwarded-For is believed",
    ),
    Setting(
        "hub.redis_url", str, "", doc="redis://... for the task queue and shared counters; empty means SQLite"
    ),
    Setting(
        "hub.ratelimit.redis_url",
        str,
        "",
        doc="where rate-limit counters live; empty means hub.redis_url, and the database (SQLite: a file beside it) when both are empty",
    ),
    Setting(
        "hub.queue.sqlite_path",
        as_text,
        "var/queue.sqlite",
        doc="Huey's SQLite queue when hub.redis_url is empty",
    ),
    Setting(
        "hub.outbox.max_attempts",
        as_positive_int,
        8,
        doc="deliveries tried before a message is parked for an operator",
    ),
    Setting(
        "hub.outbox.sweep_seconds",
        as_positive_int,
        30,
        doc="how often the worker re-queues what a crash left behind",
    ),
    Setting(
        "hub.outbox.lease_seconds",
        as_positive_float,
        300.0,
        doc="how long a worker owns a message it is delivering; a killed worker's messages wait this long",
    ),
    Setting(
        "hub.outbox.backoff_seconds",
        as_positive_float,
        5.0,
        doc="first retry delay of an outbox message; doubles per attempt, jittered",
    ),
    Setting(
        "hub.outbox.backoff_max_seconds",
        as_positive_float,
        3600.0,
        doc="longest delay between two delivery attempts",
    ),
    Setting("hub.outbox.workers", as_positive_int, 4, doc="delivery threads per hub-worker process"),
    Setting(
        "hub.outbox.background_workers",
        as_positive_int,
        1,
        doc="threads of hub-worker's background process (signed PDFs and other CPU-bound kinds)",
    ),
    Setting(
        "hub.outbox.poll_seconds",
        as_positive_float,
        1.0,
        doc="longest idle wait of a worker thread on the SQLite queue (Redis blocks instead)",
    ),
    Setting(
        "hub.soap.max_body_bytes",
        as_positive_int,
        10_485_760,
        doc="SOAP envelopes larger than this get a Fault before parsing (inline documents included)",
    ),
    Setting(
        "hub.soap.max_header_bytes",
        as_positive_int,
        32_768,
        doc="without a bearer token, the hub parses at most this much of an envelope (its Header) before "
        "the WS-Security caller is known",
    ),
    Setting(
        "hub.soap.clock_skew_seconds",
        as_positive_int,
        300,
        doc="WS-Security Created may differ from our clock by this much",
    ),
    Setting("hub.heartbeat_timeout", as_positive_float, 2.0, doc="seconds /readyz waits for each dependency"),
    Setting("hub.log_json", as_bool, True, doc="structured JSON logs"),
    Setting(
        "hub.access_log",
        as_bool,
        False,
        doc="one hub.access log record per request (method, path, client, status, ms)",
    ),
    Setting(
        "hub.election.batch_max_body_bytes",
        as_positive_int,
        1_048_576,
        doc="REST batch verification bodies larger than this are refused (1,000 questions fit)",
    ),
    Setting(
        "hub.election.soap_max_body_bytes",
        as_positive_int,
        2_097_152,
        doc="SOAP election envelopes larger than this get a Fault before parsing",
    ),
    Setting(
        "hub.election.csv_max_bytes", as_positive_int, 2_097_152, doc="largest uploaded verification CSV"
    ),
    Setting(
        "hub.election.csv_max_rows", as_positive_int, 10_000, doc="most rows of an uploaded verification CSV"
    ),
    Setting(
        "hub.kyc_api.ids_per_minute", as_positive_int, 20_000, doc="KYC ids a partner may ask about a minute"
    ),
    Setting(
        "hub.kyc_api.absent_ratio",
        as_ratio,
        0.5,
        doc="a partner whose questions are more than this share unknown ids is refused (enumeration)",
    ),
    Setting(
        "hub.kyc_api.absent_min_sample",
        as_positive_int,
        200,
        doc="questions counted before absent_ratio is judged",
    ),
    Setting(
        "hub.kyc_api.exports_per_minute", as_positive_int, 2, doc="KYC exports a partner may start a minute"
    ),
    Setting("hub.kyc_api.changes_page_max", as_positive_int, 1000, doc="largest page of the KYC change feed"),
    Setting(
        "hub.kyc_api.changes_max_scan", as_positive_int, 10_000, doc="feed rows one change-feed page may scan"
    ),
    Setting("hub.kyc_api.export_chunk", as_positive_int, 2000, doc="rows per chunk of a KYC export"),
    Setting("hub.kyc_api.consent_days", as_positive_int, 365, doc="days a consumer's KYC consent lasts"),
    Setting(
        "hub.kyc_api.disclosures_page_max", as_positive_int, 200, doc="largest page of the disclosure log"
    ),
    Setting(
        "hub.kyc_api.sync_interval_seconds", as_positive_int, 300, doc="seconds between KYC register syncs"
    ),
    Setting("hub.kyc_api.sync_page", as_positive_int, 500, doc="records per page of a KYC register sync"),
    Setting("hub.nodues.validity_days", as_positive_int, 90, doc="days a no-dues certificate stays valid"),
    Setting(
        "hub.nodues.decision_hours",
        as_positive_float,
        72.0,
        doc="hours the approver has to decide a no-dues application before it escalates",
    ),
    Setting("hub.nodues.approver_role", as_text, "dgm", doc="role deciding no-dues applications by default"),
    Setting(
        "hub.nodues.escalate_to", as_words, ("gm",), doc="roles a lapsed no-dues decision goes to, in order"
    ),
    Setting(
        "hub.nodues.routing",
        as_words,
        (),
        doc="OFFICE=ROLE pairs (DC, division or circle code): who decides no-dues applications there",
    ),
    Setting(
        "hub.nodues.default_office", as_text, "DIV-BPL-1", doc="office deciding applicants with no connection"
    ),
    Setting("hub.console.secure_cookie", as_bool, True, doc="officer console cookie only over HTTPS"),
    Setting(
        "hub.console.session_minutes",
        as_positive_int,
        30,
        doc="idle minutes before an officer signs in again",
    ),
    # Bills and payments (hub.bills).
    Setting(
        "hub.bills.channels_file",
        str,
        "",
        doc="payment channels JSON (format, scope, partial payments); empty: the shipped hub/bills/channels.json",
    ),
    Setting(
        "hub.bills.order_minutes",
        as_positive_int,
        30,
        doc="minutes a gateway order for a bill stays payable; a capture after it goes to suspense",
    ),
    Setting(
        "hub.bills.upi_vpa",
        as_text,
        "mpcz.bills@sbi",
        doc="the discom's UPI address printed in each bill's payment QR (UPI intent)",
    ),
    Setting(
        "hub.bills.reconcile_at",
        as_time_of_day,
        (6, 0),
        doc="IST time of day after which hub-worker reconciles the previous day of every channel with a settlement report",
    ),
    Setting(
        "hub.bills.reconcile_retry_seconds",
        as_positive_int,
        900,
        doc="how often hub-worker tries again a channel's day it could not reconcile (channel or billing silent)",
    ),
    # New connections through the single window (hub.connections.config).
    Setting(
        "hub.connections.timeline_days",
        as_text,
        "metro=3 other_urban=7 rural=15 hilly_rural=30",
        doc="statutory days per area class for a new connection (Electricity (Rights of Consumers) Rules)",
    ),
    Setting(
        "hub.connections.fee_schedule_file",
        str,
        "",
        doc="demand-note fee schedule JSON; empty: the shipped one",
    ),
    Setting(
        "hub.connections.compensation_per_day",
        as_text,
        "1000",
        doc="rupees credited per day beyond the statutory date",
    ),
    Setting(
        "hub.connections.compensation_max", as_text, "0", doc="cap on that compensation in rupees; 0: none"
    ),
    Setting(
        "hub.connections.document_hosts",
        as_words,
        (),
        doc="origins (https://host[:port]) the hub may fetch application documents from; nothing else is fetched",
    ),
    Setting(
        "hub.connections.max_document_bytes", as_positive_int, 2_097_152, doc="largest application document"
    ),
    Setting(
        "hub.connections.fetch_timeout",
        as_positive_float,
        5.0,
        doc="seconds to fetch one document, all told (connecting, waiting and every byte of it)",
    ),
    Setting(
        "hub.connections.offices",
        as_text,
        " ".join(
            f"{d}=DC-{101 + 8 * i}"
            for i, d in enumerate(
                [
                    "Bhopal",
                    "Sehore",
                    "Raisen",
                    "Vidisha",
                    "Rajgarh",
                    "Betul",
                    "Harda",
                    "Narmadapuram",
                    "Gwalior",
                    "Shivpuri",
                    "Guna",
                    "Ashoknagar",
                    "Datia",
                    "Morena",
                    "Bhind",
                    "Sheopur",
                ]
            )
        ),
        doc="DISTRICT=DC pairs: the distribution centre handling new connections in each district",
    ),
    # Consumer complaints (hub.complaints).
    Setting(
        "hub.complaints.standards_file",
        str,
        "",
        doc="complaint types with their standards of performance and compensation (JSON); "
        "empty: the shipped Madhya Pradesh one",
    ),
    Setting(
        "hub.complaints.reopen_days",
        as_positive_int,
        7,
        doc="days after its resolution within which the consumer may reopen a complaint",
    ),
    # Bill corrections (hub.corrections).
    Setting(
        "hub.corrections.delegation",
        str,
        "dc_manager:5000 dgm:50000 gm:*",
        doc="rupees up to which each level may permit a bill correction (role:limit, * for no limit); "
        "a case stops at the lowest level whose delegation covers it",
    ),
    Setting(
        "hub.corrections.level_days",
        as_positive_float,
        7,
        doc="days each level (office, DGM, GM) has for a bill correction before it is escalated",
    ),
    Setting(
        "hub.corrections.evidence_max_kib",
        as_positive_int,
        512,
        doc="largest evidence file (PDF, JPEG or PNG) an office may attach to a bill correction, in KiB (a request body is at most hub.max_body_bytes however many files)",
    ),
    # The WhatsApp chatbot (hub.chatbot).
    Setting(
        "hub.chatbot.idle_minutes",
        as_positive_int,
        15,
        doc="minutes without a message after which a chatbot conversation starts again from the menu "
        "(and connections opened by OTP close)",
    ),
    Setting(
        "hub.chatbot.messages_per_minute",
        as_positive_int,
        20,
        doc="messages from one WhatsApp number answered per minute; the rest of a flood gets no answer",
    ),
    Setting(
        "hub.chatbot.seen_days",
        as_positive_int,
        8,
        doc="days a message id is remembered, so a webhook redelivered in that time gets no second answer",
    ),
    Setting(
        "hub.meters.reconnect_threshold",
        as_rupees,
        "0.00",
        doc="a smart meter disconnected for non-payment is reconnected once what remains owed is at most this",
    ),
    Setting(
        "hub.meters.disconnection_charge",
        as_rupees,
        "0.00",
        doc="rupees a connection disconnected for non-payment owes for the disconnection, on top of its bill",
    ),
    Setting(
        "hub.meters.reconnection_charge",
        as_rupees,
        "0.00",
        doc="rupees a connection disconnected for non-payment owes for its reconnection, on top of its bill",
    ),
    Setting(
        "hub.meters.notification_secret",
        str,
        "",
        secret=True,
        doc="HMAC-SHA256 key shared with the head-end for its state-change notifications; empty: all refused",
    ),
    Setting(
        "hub.meters.command_window_seconds",
        as_positive_int,
        300,
        doc="a meter command's expiry: after it the hub stops waiting and queries the relay",
    ),
    Setting(
        "hub.network.sync_interval_seconds",
        as_positive_int,
        300,
        doc="how often hub-worker applies the GIS's network change feed",
    ),
    Setting(
        "hub.network.page_size",
        as_positive_int,
        2000,
        doc="GIS feed changes asked per call (at most 5,000); each page is applied in one transaction",
    ),
    Setting(
        "hub.outages.notice_hours",
        as_positive_int,
        24,
        doc="how many hours before a planned outage's window the consumers below the node are told",
    ),
    Setting(
        "hub.outages.quiet_from",
        as_time_of_day,
        "21:00",
        doc="IST time from which no planned-outage notice is sent (held until hub.outages.quiet_until)",
    ),
    Setting(
        "hub.outages.contacts_sync_interval_seconds",
        as_positive_int,
        300,
        doc="how often hub-worker applies billing's feed of consumers' mobiles and e-mails (outage notices)",
    ),
    Setting(
        "hub.outages.contacts_page_size",
        as_positive_int,
        2000,
        doc="billing contact changes asked per call (at most 5,000); each page is applied in one transaction",
    ),
    Setting(
        "hub.outages.quiet_until",
        as_time_of_day,
        "08:00",
        doc="IST time at which planned-outage notices held over the night go out",
    ),
    Setting(
        "hub.meters.max_attempts",
        as_positive_int,
        3,
        doc="attempts at a meter command before the case goes to the distribution centre for a field visit",
    ),
    Setting(
        "hub.meters.retry_seconds",
        as_positive_int,
        60,
        doc="wait before the second attempt at a meter command; doubled for each further one",
    ),
    Setting(
        "hub.meters.watch_interval_seconds",
        as_positive_int,
        30,
        doc="how often hub-worker looks for meter commands past their window or due for a retry",
    ),
    Setting(
        "hub.meters.notice_clear_days",
        as_positive_int,
        15,
        doc="clear days between the written notice of disconnection and the earliest disconnection (section 56)",
    ),
    Setting(
        "hub.meters.switching_hours",
        as_hour_range,
        "10-16",
        doc="IST hours (start-end, end exclusive) in which a meter may be disconnected",
    ),
    Setting(
        "hub.meters.switching_days",
        as_weekdays,
        "mon tue wed thu fri",
        doc="weekdays on which a meter may be disconnected",
    ),
    # WhatsApp (hub.whatsapp): the business number on the Cloud API.
    Setting(
        "hub.whatsapp.app_secret",
        str,
        "",
        secret=True,
        doc="the Meta app's secret: every webhook POST is checked against X-Hub-Signature-256 "
        "with it; empty: every webhook is refused",
    ),
    Setting(
        "hub.whatsapp.verify_token",
        str,
        "",
        secret=True,
        doc="the token the webhook's verification handshake (hub.verify_token) must carry; empty: refused",
    ),
    Setting(
        "hub.whatsapp.messages_per_second",
        as_positive_int,
        80,
        doc="business-initiated messages the bill run hands off per second (the number's throughput)",
    ),
    Setting(
        "hub.whatsapp.tier_per_day",
        as_positive_int,
        100000,
        doc="the account's messaging tier: business-initiated messages per rolling 24 hours",
    ),
    Setting(
        "hub.whatsapp.delivery_deadline_seconds",
        as_positive_int,
        14400,
        doc="a WhatsApp message not delivered this long after it was sent goes by SMS instead",
    ),
    Setting(
        "hub.whatsapp.inbound_per_minute",
        as_positive_int,
        30,
        doc="messages one number may send per minute; the rest are recorded as limited, not answered",
    ),
    Setting(
        "hub.whatsapp.bill_page_size",
        as_positive_int,
        500,
        doc="consumers the bill run hands off per transaction (its resume point moves page by page)",
    ),
    Setting(
        "hub.whatsapp.bill_run_interval_seconds",
        as_positive_int,
        20,
        doc="how often hub-worker goes on with a running bill run (each turn runs at most 25 s)",
    ),
    Setting(
        "hub.whatsapp.fallback_interval_seconds",
        as_positive_int,
        60,
        doc="how often hub-worker sends by SMS what WhatsApp failed or did not deliver in time",
    ),
    Setting(
        "hub.whatsapp.conversation",
        as_text,
        "hub.chatbot:converse",
        doc="the chatbot: package.module:function(registry, Incoming) -> list[Reply], imported when first needed",
    ),
    Setting(
        "hub.meters.notification_max_age_seconds",
        as_positive_int,
        300,
        doc="a head-end notification sent longer ago than this (or this far ahead) is refused as replayed",
    ),
)

_BY_KEY = {s.key: s for s in SETTINGS}


def validate(settings: MutableMapping[str, Any]) -> None:
    """Parse every declared setting in place; raise ConfigurationError naming the first bad one."""
    for spec in SETTINGS:
        raw = settings.get(spec.key)
        if raw is None or (isinstance(raw, str) and raw == "" and spec.required):
            if spec.required:
                raise ConfigurationError(
                    f"setting {spec.key} is required (ini key or environment variable {env_name(spec.key)})"
                )
            # A default written as ini text ("10-16") reaches the code parsed, as the ini's would.
            settings[spec.key] = (
                spec.parse(spec.default) if isinstance(spec.default, str) and spec.default else spec.default
            )
            continue
        try:
            settings[spec.key] = spec.parse(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"setting {spec.key} is malformed: {exc}") from None


def redacted(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings safe to log: secrets replaced."""
    return {
        k: ("***" if (k in _BY_KEY and _BY_KEY[k].secret) or "secret" in k or "passphrase" in k else v)
        for k, v in settings.items()
        if k.startswith("hub.")
    }
