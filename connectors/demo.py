"""Deterministic, realistic demo data for the reference billing, KYC and Samagra systems.

``generate_demo_data(engine, consumers=10_000, seed=1)`` fills the ``ref_``
tables of :mod:`connectors.billing.tables`, :mod:`connectors.kyc.tables` and
:mod:`connectors.samagra.tables`. Every Samagra ID billing or KYC carries is a
member of the Samagra registry, under the same name and mobile.
Same seed and same reference month give byte-identical rows on SQLite and
PostgreSQL. If demo data is already there it **refuses** (DemoDataExists)
unless ``replace=True``, which first deletes every row of those tables.

Shapes (documented so the hub's validation and the README can rely on them):

* **consumer number** (IVRS-like): 10 digits ``DDD SSSSSS C`` - the 3-digit
  distribution-centre number (101-228), a 6-digit serial within the DC, a Luhn
  check digit. Generated serials count up from 000001 per DC; connections
  released through the hub get serials from 500000; personas use 999001+.
* **Samagra member ID**: 9 digits (100000000-899999999 generated, 9000000xx
  personas); **Samagra family ID**: 8 digits. Family members share the family
  ID; some members hold no connection.
* **mobile**: 10 digits, first digit 6-9 (personas: 99990000xx, never generated).
* **offices**: the 16 districts of MP's central discom; per district one circle
  (``CIR-BPL``), 2 divisions (``DIV-BPL-1``), 2 zones per division
  (``ZON-BPL-1A``), 2 DCs per zone (``DC-101``): 16 circles, 32 divisions,
  64 zones, 128 DCs.
* **dues**: the ledger holds each connection's last monthly bill (billed the
  previous month, day 1-10 by DC) and, for most, its payment; about 13 % owe
  something, disconnected ones mostly with arrears.
* **meters**: ~35 % smart; ~3 % faulty; supply follows the connection status,
  so disconnected smart meters exist (for the automatic-reconnection flow).
  Every smart meter is also in the reference head-end (``ref_hes_meter``):
  whole-current ones switch remotely, CT-operated ones (categories LV3, LV4,
  HV3) do not; faulty ones do not communicate.
* **network** (the reference GIS, :mod:`connectors.network.reference`): per DC three
  33/11 kV substations, five feeders each, a DT per ~40 consumers of the DC (at least one
  per feeder); every consumer on a DT of their own DC except about 0.4 % surveyed without one.
* **KYC**: ~70 % complete, ~22 % incomplete (not done), ~8 % pending (no bank
  account in Samagra).

``total consumers`` includes the persona connections (:data:`PERSONAS`),
which are always present with fixed identifiers whatever the seed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine

from connectors.billing.reference import india_today, make_consumer_number
from connectors.billing.tables import RefConsumer, RefCounter, RefLedgerEntry, RefMeter, RefOffice
from connectors.headend.tables import RefHesMeter
from connectors.kyc.reference import CHANGE_COUNTER
from connectors.kyc.tables import RefKycRecord
from connectors.meterdata.reference import generate_readings
from connectors.network.reference import DistributionCentre, generate_network
from connectors.reference_db import SystemStatus
from connectors.samagra.tables import RefSamagraPerson

CHUNK = 5_000
IST_OFFSET = timedelta(hours=5, minutes=30)

offices_t = cast(Table, RefOffice.__table__)
consumers_t = cast(Table, RefConsumer.__table__)
ledger_t = cast(Table, RefLedgerEntry.__table__)
meters_t = cast(Table, RefMeter.__table__)
counters_t = cast(Table, RefCounter.__table__)
persons_t = cast(Table, RefSamagraPerson.__table__)
kyc_t = cast(Table, RefKycRecord.__table__)
hes_t = cast(Table, RefHesMeter.__table__)
status_t = cast(Table, SystemStatus.__table__)

# Insert order (parents of nothing, but deletes go in reverse for readability).
DEMO_TABLES = (offices_t, consumers_t, meters_t, ledger_t, persons_t, kyc_t, hes_t)
# Large loads are metered through current transformers: such smart meters cannot switch remotely.
CT_OPERATED_CATEGORIES = frozenset({"LV3", "LV4", "HV3"})

# (code, English, Hindi, relative number of connections)
DISTRICTS: tuple[tuple[str, str, str, float], ...] = (
    ("BPL", "Bhopal", "भोपाल", 2.4),
    ("SEH", "Sehore", "सीहोर", 1.3),
    ("RSN", "Raisen", "रायसेन", 1.3),
    ("VDS", "Vidisha", "विदिशा", 1.5),
    ("RJG", "Rajgarh", "राजगढ़", 1.5),
    ("BTL", "Betul", "बैतूल", 1.6),
    ("HRD", "Harda", "हरदा", 0.6),
    ("NMD", "Narmadapuram", "नर्मदापुरम", 1.2),
    ("GWL", "Gwalior", "ग्वालियर", 2.0),
    ("SVP", "Shivpuri", "शिवपुरी", 1.7),
    ("GNA", "Guna", "गुना", 1.2),
    ("ASN", "Ashoknagar", "अशोकनगर", 0.8),
    ("DTA", "Datia", "दतिया", 0.8),
    ("MRN", "Morena", "मुरैना", 2.0),
    ("BHD", "Bhind", "भिंड", 1.7),
    ("SPR", "Sheopur", "श्योपुर", 0.7),
)

# Tariff categories (MP LT/HT schedules), with the share of connections and a bill range in rupees.
CATEGORIES: dict[str, tuple[str, str, float, int, int]] = {
    "LV1": ("Domestic", "घरेलू", 0.78, 120, 3_500),
    "LV2": ("Non-domestic", "गैर-घरेलू", 0.11, 400, 18_000),
    "LV3": ("Public water works and street light", "सार्वजनिक जल कार्य एवं स्ट्रीट लाइट", 0.01, 1_500, 40_000),
    "LV4": ("LT industrial", "निम्न दाब औद्योगिक", 0.03, 2_000, 60_000),
    "LV5": ("Agriculture", "कृषि", 0.065, 300, 9_000),
    "HV3": ("HT industrial", "उच्च दाब औद्योगिक", 0.005, 60_000, 900_000),
}

MALE_GIVEN: tuple[tuple[str, str], ...] = (
    ("Ramesh", "रमेश"),
    ("Suresh", "सुरेश"),
    ("Mahesh", "महेश"),
    ("Rajesh", "राजेश"),
    ("Dinesh", "दिनेश"),
    ("Mukesh", "मुकेश"),
    ("Rakesh", "राकेश"),
    ("Anil", "अनिल"),
    ("Sunil", "सुनील"),
    ("Vijay", "विजय"),
    ("Ajay", "अजय"),
    ("Sanjay", "संजय"),
    ("Manoj", "मनोज"),
    ("Santosh", "संतोष"),
    ("Ashok", "अशोक"),
    ("Ram", "राम"),
    ("Shyam", "श्याम"),
    ("Mohan", "मोहन"),
    ("Gopal", "गोपाल"),
    ("Kailash", "कैलाश"),
    ("Prakash", "प्रकाश"),
    ("Deepak", "दीपक"),
    ("Pankaj", "पंकज"),
    ("Rahul", "राहुल"),
    ("Amit", "अमित"),
    ("Rohit", "रोहित"),
    ("Vikas", "विकास"),
    ("Arvind", "अरविंद"),
    ("Narendra", "नरेंद्र"),
    ("Devendra", "देवेंद्र"),
    ("Mahendra", "महेंद्र"),
    ("Shivraj", "शिवराज"),
    ("Lakhan", "लखन"),
    ("Harish", "हरीश"),
    ("Jitendra", "जितेंद्र"),
    ("Kamal", "कमल"),
    ("Govind", "गोविंद"),
    ("Brijesh", "बृजेश"),
    ("Ravi", "रवि"),
    ("Hariom", "हरिओम"),
)
FEMALE_GIVEN: tuple[tuple[str, str], ...] = (
    ("Sunita", "सुनीता"),
    ("Anita", "अनीता"),
    ("Geeta", "गीता"),
    ("Seema", "सीमा"),
    ("Rekha", "रेखा"),
    ("Meena", "मीना"),
    ("Kamla", "कमला"),
    ("Savitri", "सावित्री"),
    ("Laxmi", "लक्ष्मी"),
    ("Saroj", "सरोज"),
    ("Pushpa", "पुष्पा"),
    ("Usha", "उषा"),
    ("Asha", "आशा"),
    ("Nirmala", "निर्मला"),
    ("Radha", "राधा"),
    ("Sarita", "सरिता"),
    ("Kiran", "किरण"),
    ("Pooja", "पूजा"),
    ("Priya", "प्रिया"),
    ("Neha", "नेहा"),
    ("Rani", "रानी"),
    ("Shanti", "शांति"),
    ("Kusum", "कुसुम"),
    ("Mamta", "ममता"),
    ("Sangeeta", "संगीता"),
    ("Kavita", "कविता"),
    ("Jyoti", "ज्योति"),
    ("Rukmini", "रुक्मिणी"),
    ("Parvati", "पार्वती"),
    ("Durga", "दुर्गा"),
    ("Ramkali", "रामकली"),
    ("Manju", "मंजू"),
    ("Suman", "सुमन"),
    ("Vandana", "वंदना"),
    ("Archana", "अर्चना"),
    ("Sushila", "सुशीला"),
)
SURNAMES: tuple[tuple[str, str], ...] = (
    ("Sharma", "शर्मा"),
    ("Verma", "वर्मा"),
    ("Gupta", "गुप्ता"),
    ("Yadav", "यादव"),
    ("Patel", "पटेल"),
    ("Singh", "सिंह"),
    ("Chouhan", "चौहान"),
    ("Rajput", "राजपूत"),
    ("Tiwari", "तिवारी"),
    ("Mishra", "मिश्रा"),
    ("Dubey", "दुबे"),
    ("Pandey", "पांडे"),
    ("Shukla", "शुक्ला"),
    ("Jain", "जैन"),
    ("Agrawal", "अग्रवाल"),
    ("Sahu", "साहू"),
    ("Kushwaha", "कुशवाहा"),
    ("Lodhi", "लोधी"),
    ("Ahirwar", "अहिरवार"),
    ("Jatav", "जाटव"),
    ("Meena", "मीणा"),
    ("Gurjar", "गुर्जर"),
    ("Rathore", "राठौर"),
    ("Thakur", "ठाकुर"),
    ("Soni", "सोनी"),
    ("Namdev", "नामदेव"),
    ("Prajapati", "प्रजापति"),
    ("Vishwakarma", "विश्वकर्मा"),
    ("Malviya", "मालवीय"),
    ("Baghel", "बघेल"),
    ("Dhakad", "धाकड़"),
    ("Kirar", "किरार"),
    ("Bhadoria", "भदौरिया"),
    ("Tomar", "तोमर"),
    ("Sikarwar", "सिकरवार"),
    ("Saxena", "सक्सेना"),
    ("Srivastava", "श्रीवास्तव"),
    ("Uikey", "उइके"),
    ("Dhurve", "धुर्वे"),
    ("Maravi", "मरावी"),
)
MUSLIM_MALE: tuple[tuple[str, str], ...] = (
    ("Imran", "इमरान"),
    ("Salim", "सलीम"),
    ("Aslam", "असलम"),
    ("Irfan", "इरफ़ान"),
    ("Rashid", "राशिद"),
    ("Shakeel", "शकील"),
    ("Mohammad Arif", "मोहम्मद आरिफ़"),
    ("Javed", "जावेद"),
)
MUSLIM_FEMALE: tuple[tuple[str, str], ...] = (
    ("Shabana", "शबाना"),
    ("Rubina", "रुबीना"),
    ("Nasreen", "नसरीन"),
    ("Farzana", "फ़रज़ाना"),
    ("Salma", "सलमा"),
    ("Shahnaz", "शहनाज़"),
)
MUSLIM_SURNAMES: tuple[tuple[str, str], ...] = (
    ("Khan", "ख़ान"),
    ("Qureshi", "क़ुरैशी"),
    ("Ansari", "अंसारी"),
    ("Sheikh", "शेख़"),
    ("Mansuri", "मंसूरी"),
)
MALE_MIDDLE: tuple[tuple[str, str], ...] = (("Kumar", "कुमार"), ("Prasad", "प्रसाद"), ("Lal", "लाल"))
FEMALE_MIDDLE: tuple[tuple[str, str], ...] = (("Devi", "देवी"), ("Bai", "बाई"), ("Kumari", "कुमारी"))
# Bank codes as they appear in IFSCs (4 letters, "0", 6-character branch code).
BANKS = ("SBIN", "PUNB", "BKID", "CNRB", "UBIN", "BARB", "CBIN", "IDIB", "MAHB", "HDFC", "ICIC", "CORP")
PAYMENT_CHANNELS = ("portal", "app", "upi", "counter", "wallet", "mp-online")
SMART_MAKERS = ("SMGN", "SMHP", "SMLT")
CONVENTIONAL_MAKERS = ("HPL", "SEC", "AEW", "LNT")


@dataclass(frozen=True)
class Office:
    code: str
    level: str
    name_en: str
    name_hi: str
    district: str
    parent_code: str | None
    dc_number: int | None


def office_hierarchy() -> list[Office]:
    """The discom's 240 offices, parents before children."""
    offices: list[Office] = []
    for index, (code, district, district_hi, _weight) in enumerate(DISTRICTS):
        circle = f"CIR-{code}"
        offices.append(
            Office(circle, "circle", f"{district} Circle", f"{district_hi} वृत्त", district, None, None)
        )
        for d in range(2):
            division = f"DIV-{code}-{d + 1}"
            offices.append(
                Office(
                    division,
                    "division",
                    f"{district} Division {d + 1}",
                    f"{district_hi} संभाग {d + 1}",
                    district,
                    circle,
                    None,
                )
            )
            for z in range(2):
                suffix = f"{d + 1}{'AB'[z]}"
                zone = f"ZON-{code}-{suffix}"
                offices.append(
                    Office(
                        zone,
                        "zone",
                        f"{district} Zone {suffix}",
                        f"{district_hi} जोन {suffix}",
                        district,
                        division,
                        None,
                    )
                )
                for k in range(2):
                    number = 101 + index * 8 + d * 4 + z * 2 + k
                    offices.append(
                        Office(
                            f"DC-{number}",
                            "dc",
                            f"{district} DC {number}",
                            f"{district_hi} वितरण केन्द्र {number}",
                            district,
                            zone,
                            number,
                        )
                    )
    return offices


# -- personas ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaConnection:
    consumer_number: str
    category: str
    dues: Decimal
    meter_type: str = "smart"
    health: str = "healthy"
    connection_status: str = "active"
    kyc_status: str = "complete"


@dataclass(frozen=True)
class Persona:
    """A fixed demo person for tests, docs and the README (identifiers never change)."""

    key: str
    description: str
    name_en: str
    name_hi: str
    samagra_id: str
    family_id: str
    mobile: str
    connections: tuple[PersonaConnection, ...] = field(default=())
    bank_account: str | None = None
    ifsc: str | None = None

    @property
    def consumer_numbers(self) -> tuple[str, ...]:
        return tuple(c.consumer_number for c in self.connections)


def _pc(serial: int, category: str, dues: str = "0.00", **kw: str) -> PersonaConnection:
    return PersonaConnection(make_consumer_number(101, 999_000 + serial), category, Decimal(dues), **kw)


PERSONAS: dict[str, Persona] = {
    p.key: p
    for p in (
        Persona(
            "clean",
            "One connection, nothing due, healthy smart meter, e-KYC complete",
            "Ramesh Kumar Sharma",
            "रमेश कुमार शर्मा",
            "900000011",
            "90000001",
            "9999000011",
            (_pc(1, "LV1"),),
            "30211456781",
            "SBIN0030211",
        ),
        Persona(
            "dues",
            "Two connections; the first owes ₹4,572.50, the second nothing",
            "Sunita Devi Verma",
            "सुनीता देवी वर्मा",
            "900000021",
            "90000002",
            "9999000021",
            (_pc(2, "LV1", "4572.50"), _pc(3, "LV2")),
            "50100234567812",
            "HDFC0001234",
        ),
        Persona(
            "faulty_meter",
            "One connection, nothing due, conventional meter faulty",
            "Mohammad Irfan Khan",
            "मोहम्मद इरफ़ान ख़ान",
            "900000031",
            "90000003",
            "9999000031",
            (_pc(4, "LV1", meter_type="conventional", health="faulty"),),
            "10987654321",
            "PUNB0123400",
        ),
        Persona(
            "incomplete_kyc",
            "One connection, nothing due, e-KYC not done (Samagra has a bank account, "
            "so submitting e-KYC completes it)",
            "Priya Yadav",
            "प्रिया यादव",
            "900000041",
            "90000004",
            "9999000041",
            (_pc(5, "LV1", kyc_status="incomplete"),),
            "62011122233",
            "BKID0006201",
        ),
        Persona(
            "no_connection",
            "A Samagra member with no connection in billing",
            "Anil Singh Chouhan",
            "अनिल सिंह चौहान",
            "900000051",
            "90000005",
            "9999000051",
            (),
            "33445566778",
            "CNRB0004455",
        ),
        Persona(
            "disconnected_smart",
            "Smart meter disconnected for ₹1,830.00 unpaid (reconnects on payment)",
            "Geeta Bai Patel",
            "गीता बाई पटेल",
            "900000061",
            "90000006",
            "9999000061",
            (_pc(6, "LV1", "1830.00", connection_status="disconnected"),),
            "20455566677",
            "UBIN0520455",
        ),
        Persona(
            "disconnected_ct_meter",
            "LT industrial connection disconnected for ₹24,000.00 unpaid; its CT-operated smart "
            "meter cannot switch remotely (a field visit reconnects it)",
            "Kailash Chandra Meena",
            "कैलाश चंद्र मीणा",
            "900000081",
            "90000008",
            "9999000081",
            (_pc(10, "LV4", "24000.00", connection_status="disconnected"),),
            "60077788899",
            "SBIN0060077",
        ),
        Persona(
            "several_connections",
            "Home, shop and farm connections, all clear",
            "Rajesh Gupta",
            "राजेश गुप्ता",
            "900000071",
            "90000007",
            "9999000071",
            (_pc(7, "LV1"), _pc(8, "LV2"), _pc(9, "LV5")),
            "40011223344",
            "BARB0BHOPAL",
        ),
    )
}


# -- summary and errors ------------------------------------------------------------------


class DemoDataExists(RuntimeError):
    """Demo data is already loaded; pass replace=True to wipe and reload it."""


@dataclass(frozen=True)
class DemoSummary:
    seed: int
    reference_date: date
    consumers: int
    samagra_persons: int
    persons_without_connection: int
    ledger_entries: int
    with_dues: int
    faulty_meters: int
    disconnected_smart_meters: int
    kyc_complete: int
    kyc_incomplete: int
    kyc_pending: int
    offices: int
    personas: tuple[str, ...]
    network_nodes: int = 0
    consumers_without_dt: int = 0


@dataclass
class _Counts:
    consumers: int = 0
    persons: int = 0
    persons_without_connection: int = 0
    ledger: int = 0
    with_dues: int = 0
    faulty: int = 0
    disconnected_smart: int = 0
    kyc: dict[str, int] = field(default_factory=lambda: {"complete": 0, "incomplete": 0, "pending": 0})


@dataclass
class _Chunk:
    consumers: list[tuple[Any, ...]] = field(default_factory=list)
    meters: list[tuple[Any, ...]] = field(default_factory=list)
    ledger: list[tuple[Any, ...]] = field(default_factory=list)
    persons: list[tuple[Any, ...]] = field(default_factory=list)
    kyc: list[tuple[Any, ...]] = field(default_factory=list)
    hes_meters: list[tuple[Any, ...]] = field(default_factory=list)


CONSUMER_COLS = (
    "consumer_number",
    "name_en",
    "name_hi",
    "samagra_id",
    "mobile",
    "district",
    "dc_code",
    "zone_code",
    "division_code",
    "circle_code",
    "category",
    "connection_status",
    "connected_on",
)
HES_COLS = ("meter_no", "relay", "communicating", "remote_switch", "simulate", "last_seen")
METER_COLS = ("consumer_number", "meter_number", "meter_type", "health", "supply", "last_read_on")
LEDGER_COLS = (
    "consumer_number",
    "entry_date",
    "kind",
    "amount_paise",
    "reference",
    "receipt_number",
    "note",
    "posted_at",
)
PERSON_COLS = ("samagra_id", "family_id", "name_en", "name_hi", "mobile", "district", "bank_account", "ifsc")
KYC_COLS = (
    "consumer_number",
    "samagra_id",
    "holder_name_en",
    "holder_name_hi",
    "mobile",
    "bank_account",
    "ifsc",
    "status",
    "kyc_date",
    "source",
    "change_seq",
    "updated_at",
)


# -- the generator -------------------------------------------------------------------------


class _Generator:
    def __init__(self, seed: int, reference_date: date) -> None:
        self.rng = random.Random(seed)
        self.reference_date = reference_date
        month_start = reference_date.replace(day=1)
        self.bill_month_start = (month_start - timedelta(days=1)).replace(day=1)
        self.bill_month = self.bill_month_start.strftime("%Y%m")
        self.offices = office_hierarchy()
        by_code = {o.code: o for o in self.offices}
        self.dcs_by_district: dict[str, list[tuple[Office, Office, Office, Office]]] = {}
        for office in self.offices:
            if office.level == "dc":
                zone = by_code[cast(str, office.parent_code)]
                division = by_code[cast(str, zone.parent_code)]
                circle = by_code[cast(str, division.parent_code)]
                self.dcs_by_district.setdefault(office.district, []).append((office, zone, division, circle))
        self.district_names = [d[1] for d in DISTRICTS]
        self.district_weights = [d[3] for d in DISTRICTS]
        self.category_codes = list(CATEGORIES)
        self.category_weights = [c[2] for c in CATEGORIES.values()]
        self.serial_by_dc: dict[int, int] = {}
        self.samagra_offset = self.rng.randrange(800_000_000)
        self.family_offset = self.rng.randrange(80_000_000)
        self.member_seq = 0
        self.family_seq = 0
        self.connection_seq = 0
        self.change_seq = 0
        self.counts = _Counts()

    # identifiers ---------------------------------------------------------------

    def samagra_id(self) -> str:
        # An affine permutation of the sequence: unique, scattered, 9 digits, never 9xxxxxxxx.
        self.member_seq += 1
        return str(100_000_000 + (self.member_seq * 48_271 + self.samagra_offset) % 800_000_000)

    def family_id(self) -> str:
        self.family_seq += 1
        return str(10_000_000 + (self.family_seq * 7_919 + self.family_offset) % 80_000_000)

    def mobile(self) -> str:
        rng = self.rng
        number = rng.choice("6789") + f"{rng.randrange(1_000_000_000):09d}"
        if number.startswith("99990"):  # reserved for the personas
            number = "8" + number[1:]
        return number

    def bank(self) -> tuple[str | None, str | None]:
        rng = self.rng
        if rng.random() >= 0.85:
            return None, None
        length = rng.randrange(11, 17)
        account = str(rng.randrange(10 ** (length - 1), 10**length))
        return account, f"{rng.choice(BANKS)}0{rng.randrange(1_000_000):06d}"

    def name(self, female: bool, muslim: bool) -> tuple[str, str, tuple[str, str]]:
        rng = self.rng
        if muslim:
            given = rng.choice(MUSLIM_FEMALE if female else MUSLIM_MALE)
            surname = rng.choice(MUSLIM_SURNAMES)
            middle = None
        else:
            given = rng.choice(FEMALE_GIVEN if female else MALE_GIVEN)
            surname = rng.choice(SURNAMES)
            chance = 0.25 if female else 0.3
            middle = rng.choice(FEMALE_MIDDLE if female else MALE_MIDDLE) if rng.random() < chance else None
        return (*self.full_name(given, middle, surname), surname)

    @staticmethod
    def full_name(
        given: tuple[str, str], middle: tuple[str, str] | None, surname: tuple[str, str]
    ) -> tuple[str, str]:
        parts = [given, middle, surname] if middle else [given, surname]
        return " ".join(p[0] for p in parts), " ".join(p[1] for p in parts)

    # rows ----------------------------------------------------------------------

    def posted(self, day: date, hour: int = 6) -> datetime:
        # India has no daylight saving: local hour -> UTC is a fixed 5:30 shift (cheaper than zoneinfo).
        return datetime.combine(day, time(hour), UTC) - IST_OFFSET

    def bill_date(self, dc_number: int) -> date:
        return self.bill_month_start + timedelta(days=dc_number % 10)

    def add_person(self, chunk: _Chunk, row: tuple[str | None, ...]) -> None:
        """A Samagra member: PERSON_COLS in order."""
        chunk.persons.append(row)
        self.counts.persons += 1

    def add_connection(
        self,
        chunk: _Chunk,
        *,
        number: str,
        name: tuple[str, str],
        samagra_in_billing: str | None,
        samagra: str,
        mobile: str,
        bank: tuple[str | None, str | None],
        dc: tuple[Office, Office, Office, Office],
        category: str,
        status: str,
        dues: Decimal,
        meter_type: str,
        health: str,
        kyc_status: str,
        meter_number: str,
    ) -> None:
        rng = self.rng
        dc_office, zone, division, circle = dc
        dc_number = cast(int, dc_office.dc_number)
        connected_on = self.reference_date - timedelta(days=rng.randrange(60, 40 * 365))
        chunk.consumers.append(
            (
                number,
                name[0],
                name[1],
                samagra_in_billing,
                mobile,
                dc_office.district,
                dc_office.code,
                zone.code,
                division.code,
                circle.code,
                category,
                status,
                connected_on,
            )
        )
        bill_day = self.bill_date(dc_number)
        supply = "connected" if status == "active" else "disconnected"
        read_on = (
            None
            if health == "faulty" and rng.random() < 0.5
            else bill_day - timedelta(days=rng.randrange(1, 4))
        )
        chunk.meters.append((number, meter_number, meter_type, health, supply, read_on))
        if meter_type == "smart":
            chunk.hes_meters.append(
                (
                    meter_number,
                    supply,
                    health == "healthy",
                    category not in CT_OPERATED_CATEGORIES,
                    "normal",
                    self.posted(read_on) if read_on else None,
                )
            )
        self.counts.faulty += health == "faulty"
        self.counts.disconnected_smart += meter_type == "smart" and supply == "disconnected"
        # The last monthly bill, and its payment unless it is still due.
        low, high = CATEGORIES[category][3:5]
        bill = rng.randrange(low * 100, high * 100)  # paise
        due = int(dues * 100)
        if due > 0 and bill > due:
            bill = due
        chunk.ledger.append(
            (
                number,
                bill_day,
                "bill",
                bill,
                f"BL{number}{self.bill_month}",
                None,
                f"bill {self.bill_month}",
                self.posted(bill_day),
            )
        )
        if due > 0:
            arrear = due - bill
            if arrear > 0:
                arrear_day = bill_day - timedelta(days=rng.randrange(35, 400))
                chunk.ledger.append(
                    (
                        number,
                        arrear_day,
                        "arrear",
                        arrear,
                        f"AR{number}",
                        None,
                        "arrears brought forward",
                        self.posted(arrear_day),
                    )
                )
            self.counts.with_dues += 1
        else:
            paid_day = bill_day + timedelta(days=rng.randrange(3, 18))
            reference = f"PY{number}{self.bill_month}"
            chunk.ledger.append(
                (
                    number,
                    paid_day,
                    "payment",
                    -bill,
                    reference,
                    "RC" + hashlib.sha256(reference.encode()).hexdigest()[:14].upper(),
                    rng.choice(PAYMENT_CHANNELS),
                    self.posted(paid_day, 11),
                )
            )
        # KYC record of the connection.
        self.change_seq += 1
        if kyc_status == "incomplete":
            chunk.kyc.append(
                (
                    number,
                    None,
                    name[0],
                    name[1],
                    mobile,
                    None,
                    None,
                    "incomplete",
                    None,
                    "migration",
                    self.change_seq,
                    self.posted(connected_on),
                )
            )
        else:
            if kyc_status == "complete" and bank[0] is None:
                kyc_status = "pending"
            kyc_day = self.reference_date - timedelta(days=rng.randrange(1, 400))
            account, ifsc = bank if kyc_status == "complete" else (None, None)
            chunk.kyc.append(
                (
                    number,
                    samagra,
                    name[0],
                    name[1],
                    mobile,
                    account,
                    ifsc,
                    kyc_status,
                    kyc_day,
                    "ekyc" if rng.random() < 0.8 else "office",
                    self.change_seq,
                    self.posted(kyc_day, 12),
                )
            )
        self.counts.kyc[kyc_status] += 1
        self.counts.consumers += 1

    def next_number(self, dc: tuple[Office, Office, Office, Office]) -> str:
        dc_number = cast(int, dc[0].dc_number)
        serial = self.serial_by_dc.get(dc_number, 0) + 1
        self.serial_by_dc[dc_number] = serial
        return make_consumer_number(dc_number, serial)

    def personas(self, chunk: _Chunk) -> None:
        bhopal_dc = self.dcs_by_district["Bhopal"][0]
        for persona in PERSONAS.values():
            bank = (persona.bank_account, persona.ifsc)
            self.add_person(
                chunk,
                (
                    persona.samagra_id,
                    persona.family_id,
                    persona.name_en,
                    persona.name_hi,
                    persona.mobile,
                    "Bhopal",
                    *bank,
                ),
            )
            if not persona.connections:
                self.counts.persons_without_connection += 1
            for c in persona.connections:
                self.add_connection(
                    chunk,
                    number=c.consumer_number,
                    name=(persona.name_en, persona.name_hi),
                    samagra_in_billing=persona.samagra_id,
                    samagra=persona.samagra_id,
                    mobile=persona.mobile,
                    bank=bank,
                    dc=bhopal_dc,
                    category=c.category,
                    status=c.connection_status,
                    dues=c.dues,
                    meter_type=c.meter_type,
                    health=c.health,
                    kyc_status=c.kyc_status,
                    meter_number="DEMO" + c.consumer_number,
                )

    def household(self, chunk: _Chunk, remaining: int) -> None:
        """One family: a holder with 1-3 connections, sometimes a member without one."""
        rng = self.rng
        district = rng.choices(self.district_names, self.district_weights)[0]
        dcs = self.dcs_by_district[district]
        home_dc = rng.choice(dcs)
        family = self.family_id()
        muslim = rng.random() < 0.08
        female = rng.random() < 0.3
        name_en, name_hi, surname = self.name(female, muslim)
        samagra = self.samagra_id()
        mobile = self.mobile()
        bank = self.bank()
        self.add_person(chunk, (samagra, family, name_en, name_hi, mobile, district, *bank))
        roll = rng.random()
        wanted = 3 if roll < 0.02 else 2 if roll < 0.08 else 1
        for index in range(min(wanted, remaining)):
            dc = home_dc if index == 0 or rng.random() < 0.6 else rng.choice(dcs)
            if index == 0:
                category = rng.choices(self.category_codes, self.category_weights)[0]
            else:
                category = rng.choice(("LV2", "LV5", "LV1", "LV4"))
            r = rng.random()
            status = "permanently_disconnected" if r < 0.02 else "disconnected" if r < 0.06 else "active"
            owes = (
                rng.random() < {"active": 0.11, "disconnected": 0.85, "permanently_disconnected": 0.5}[status]
            )
            dues = Decimal("0.00")
            if owes:
                low, high = CATEGORIES[category][3:5]
                months = 1 if status == "active" and rng.random() < 0.7 else rng.randrange(2, 14)
                dues = Decimal(rng.randrange(low * 100, high * 100) * months) / 100
            self.connection_seq += 1
            smart = rng.random() < 0.35
            maker = rng.choice(SMART_MAKERS if smart else CONVENTIONAL_MAKERS)
            k = rng.random()
            kyc_status = (
                "incomplete"
                if status == "permanently_disconnected" or k < 0.22
                else "complete"
                if k < 0.92
                else "pending"
            )
            self.add_connection(
                chunk,
                number=self.next_number(dc),
                name=(name_en, name_hi),
                samagra_in_billing=samagra if rng.random() < 0.88 else None,
                samagra=samagra,
                mobile=mobile,
                bank=bank,
                dc=dc,
                category=category,
                status=status,
                dues=dues,
                meter_type="smart" if smart else "conventional",
                health="faulty" if rng.random() < 0.03 else "healthy",
                kyc_status=kyc_status,
                meter_number=f"{maker}{self.connection_seq:08d}",
            )
        if rng.random() < 0.35:
            # Spouse or grown child: in Samagra, in the family, no connection of their own.
            other_female = not female if rng.random() < 0.7 else rng.random() < 0.5
            given = rng.choice(
                (MUSLIM_FEMALE if other_female else MUSLIM_MALE)
                if muslim
                else (FEMALE_GIVEN if other_female else MALE_GIVEN)
            )
            member_en, member_hi = self.full_name(given, None, surname)
            member_mobile = self.mobile() if rng.random() < 0.7 else None
            self.add_person(
                chunk,
                (self.samagra_id(), family, member_en, member_hi, member_mobile, district, *self.bank()),
            )
            self.counts.persons_without_connection += 1


def _bulk(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # COPY is several times faster than executemany for millions of rows.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()
        return
    if conn.dialect.name == "sqlite":
        # The DB-API's executemany on plain tuples skips SQLAlchemy's per-row parameter
        # processing (half the load time); values are rendered as SQLAlchemy stores them.
        # Table and column names are our own constants, never input.
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
        conn.exec_driver_sql(sql, [tuple(map(_sqlite_value, row)) for row in rows])
        return
    conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLAlchemy's SQLite DATETIME storage format; UTCDateTime reads it back as UTC.
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _flush(conn: Connection, chunk: _Chunk) -> int:
    _bulk(conn, persons_t, PERSON_COLS, chunk.persons)
    _bulk(conn, consumers_t, CONSUMER_COLS, chunk.consumers)
    _bulk(conn, meters_t, METER_COLS, chunk.meters)
    _bulk(conn, ledger_t, LEDGER_COLS, chunk.ledger)
    _bulk(conn, kyc_t, KYC_COLS, chunk.kyc)
    _bulk(conn, hes_t, HES_COLS, chunk.hes_meters)
    return len(chunk.ledger)


def _set_counter(conn: Connection, name: str, value: int) -> None:
    conn.execute(delete(counters_t).where(counters_t.c.name == name))
    conn.execute(insert(counters_t).values(name=name, value=value))


def generate_demo_data(
    engine: Engine,
    consumers: int = 10_000,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
    *,
    replace: bool = False,
    reference_date: date | None = None,
) -> DemoSummary:
    """Fill the reference billing and KYC tables; see the module docstring.

    ``consumers`` is the total number of connections, personas included.
    ``reference_date`` (default: the first day of the current month, India
    time) anchors every date: bills are from the month before it. Same seed
    and same reference date give the same rows. ``progress(done, total)`` is
    called after each chunk of ~5,000 connections.
    """
    persona_connections = sum(len(p.connections) for p in PERSONAS.values())
    if consumers < persona_connections:
        raise ValueError(f"consumers must be at least {persona_connections} (the personas' connections)")
    reference_date = reference_date or india_today().replace(day=1)
    with engine.begin() as conn:
        existing = conn.execute(select(func.count()).select_from(consumers_t)).scalar_one()
        existing += conn.execute(select(func.count()).select_from(persons_t)).scalar_one()
        if existing and not replace:
            raise DemoDataExists("reference billing/KYC tables already hold data; use replace=True to reload")
        if existing or replace:
            for table in reversed(DEMO_TABLES):
                conn.execute(delete(table))
            conn.execute(delete(counters_t).where(counters_t.c.name.like("consumer_serial:%")))
            conn.execute(delete(counters_t).where(counters_t.c.name == CHANGE_COUNTER))
        conn.execute(delete(status_t).where(status_t.c.system.in_(("billing", "kyc", "headend"))))
        gen = _Generator(seed, reference_date)
        _bulk(
            conn,
            offices_t,
            ("code", "level", "name_en", "name_hi", "district", "parent_code", "dc_number"),
            [
                (o.code, o.level, o.name_en, o.name_hi, o.district, o.parent_code, o.dc_number)
                for o in gen.offices
            ],
        )
        chunk = _Chunk()
        gen.personas(chunk)
        ledger = _flush(conn, chunk)
    if progress:
        progress(gen.counts.consumers, consumers)
    while gen.counts.consumers < consumers:
        chunk = _Chunk()
        target = min(consumers, gen.counts.consumers + CHUNK)
        while gen.counts.consumers < target:
            gen.household(chunk, target - gen.counts.consumers)
        with engine.begin() as conn:
            ledger += _flush(conn, chunk)
        if progress:
            progress(gen.counts.consumers, consumers)
    with engine.begin() as conn:
        _set_counter(conn, CHANGE_COUNTER, gen.change_seq)
    with engine.begin() as conn:
        network_nodes, without_dt = generate_network(conn, distribution_centres(gen.offices), seed)
    with engine.begin() as conn:
        # The feeder and DT meters' snapshots around the month billed.
        generate_readings(conn, gen.bill_month_start.strftime("%Y-%m"), seed)
    counts = gen.counts
    return DemoSummary(
        seed=seed,
        reference_date=reference_date,
        consumers=counts.consumers,
        samagra_persons=counts.persons,
        persons_without_connection=counts.persons_without_connection,
        ledger_entries=ledger,
        with_dues=counts.with_dues,
        faulty_meters=counts.faulty,
        disconnected_smart_meters=counts.disconnected_smart,
        kyc_complete=counts.kyc["complete"],
        kyc_incomplete=counts.kyc["incomplete"],
        kyc_pending=counts.kyc["pending"],
        offices=len(gen.offices),
        personas=tuple(PERSONAS),
        network_nodes=network_nodes,
        consumers_without_dt=without_dt,
    )


def distribution_centres(offices: Iterable[Office]) -> list[DistributionCentre]:
    """The DCs of the office hierarchy, with their district's names, for the reference GIS."""
    district_hi = {name: hindi for _code, name, hindi, _weight in DISTRICTS}
    return [
        DistributionCentre(o.code, cast(int, o.dc_number), o.district, district_hi[o.district])
        for o in offices
        if o.level == "dc"
    ]


def reference_data_digest(engine: Engine) -> str:
    """SHA-256 over the demo tables' rows in key order (ids left out): equal data, equal digest."""
    digest = hashlib.sha256()
    orders: Iterable[tuple[Table, Sequence[str], str]] = (
        (offices_t, ("code", "level", "name_en", "name_hi", "district", "parent_code", "dc_number"), "code"),
        (consumers_t, CONSUMER_COLS, "consumer_number"),
        (meters_t, METER_COLS, "consumer_number"),
        (ledger_t, LEDGER_COLS, "reference"),
        (persons_t, PERSON_COLS, "samagra_id"),
        (kyc_t, KYC_COLS, "consumer_number"),
        (hes_t, HES_COLS, "meter_no"),
    )
    with engine.connect() as conn:
        for table, columns, order in orders:
            digest.update(table.name.encode())
            result = conn.execute(select(*(table.c[c] for c in columns)).order_by(table.c[order]))
            for row in result:
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def write_contacts_extract(engine: Engine, out: Any) -> int:
    """Billing's extract of the demo consumers' contacts, as CSV (``consumer_number,mobile,email``)
    to the text stream ``out``: the file a discom's billing sends the hub for outage notices.

    Billing records no e-mail; the demo gives one to every third consumer (``@mail.example``)."""
    import csv

    writer = csv.writer(out)
    writer.writerow(["consumer_number", "mobile", "email"])
    count = 0
    with engine.connect() as conn:
        rows = conn.execute(
            select(RefConsumer.consumer_number, RefConsumer.mobile).order_by(RefConsumer.consumer_number)
        )
        for number, mobile in rows:
            email = f"consumer.{number}@mail.example" if int(number) % 3 == 0 else ""
            writer.writerow([number, mobile, email])
            count += 1
    return count


def write_offices_extract(engine: Engine, out: Any) -> int:
    """Billing's extract of its offices, as CSV (``code,level,parent_code``; a circle's parent
    empty) to the text stream ``out``: what the hub works officers' jurisdictions out from."""
    import csv

    writer = csv.writer(out)
    writer.writerow(["code", "level", "parent_code"])
    count = 0
    with engine.connect() as conn:
        rows = conn.execute(
            select(offices_t.c.code, offices_t.c.level, offices_t.c.parent_code).order_by(offices_t.c.code)
        )
        for code, level, parent in rows:
            writer.writerow([code, level, parent or ""])
            count += 1
    return count
