"""Version 1 of the discom's part of the Common Application Form (new electricity connection).

The definition is data: fields with bilingual labels, units and limits; the
per-category limits (load, contract demand, supply voltage) and which
documents each category and load needs are in ``RULES``, applied by
:func:`check`. Never edit a released version's limits in place: add
``v2.py`` and register it (``forms.newconnection.FORMS``); applications
filed under version 1 stay readable and valid under version 1.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from forms.errors import FieldProblem
from forms.newconnection.definition import (
    BASE64,
    CHOICE,
    DECIMAL,
    GROUP,
    LIST,
    TEXT,
    Choice,
    Field,
    FormDefinition,
)
from forms.newconnection.model import ConnectionApplicationForm, DocumentRef

VERSION = 1
MAX_INLINE_BYTES = 5 * 1024 * 1024  # per document; the hub may configure less

AREA_CLASSES = (
    Choice("metro", "Metropolitan city", "महानगर"),
    Choice("other_urban", "Other municipal area", "अन्य नगरीय क्षेत्र"),
    Choice("rural", "Rural area", "ग्रामीण क्षेत्र"),
    Choice("hilly_rural", "Hilly rural area", "पहाड़ी ग्रामीण क्षेत्र"),
)
CATEGORIES = (
    Choice("lt_domestic", "LT domestic", "निम्नदाब घरेलू"),
    Choice("lt_non_domestic", "LT non-domestic", "निम्नदाब गैर-घरेलू"),
    Choice("lt_industrial", "LT industrial", "निम्नदाब औद्योगिक"),
    Choice("ht_industrial", "HT industrial", "उच्चदाब औद्योगिक"),
)
VOLTAGES = (
    Choice("230V", "230 V single phase", "230 वोल्ट एकल फेज"),
    Choice("415V", "415 V three phase", "415 वोल्ट तीन फेज"),
    Choice("11kV", "11 kV", "11 किलोवोल्ट"),
    Choice("33kV", "33 kV", "33 किलोवोल्ट"),
    Choice("132kV", "132 kV", "132 किलोवोल्ट"),
)
DISTRICTS = (
    Choice("Bhopal", "Bhopal", "भोपाल"),
    Choice("Sehore", "Sehore", "सीहोर"),
    Choice("Raisen", "Raisen", "रायसेन"),
    Choice("Vidisha", "Vidisha", "विदिशा"),
    Choice("Rajgarh", "Rajgarh", "राजगढ़"),
    Choice("Betul", "Betul", "बैतूल"),
    Choice("Harda", "Harda", "हरदा"),
    Choice("Narmadapuram", "Narmadapuram", "नर्मदापुरम"),
    Choice("Gwalior", "Gwalior", "ग्वालियर"),
    Choice("Shivpuri", "Shivpuri", "शिवपुरी"),
    Choice("Guna", "Guna", "गुना"),
    Choice("Ashoknagar", "Ashoknagar", "अशोकनगर"),
    Choice("Datia", "Datia", "दतिया"),
    Choice("Morena", "Morena", "मुरैना"),
    Choice("Bhind", "Bhind", "भिंड"),
    Choice("Sheopur", "Sheopur", "श्योपुर"),
)
CONSTITUTIONS = (
    Choice("individual", "Individual", "व्यक्तिगत"),
    Choice("proprietorship", "Proprietorship", "स्वामित्व फर्म"),
    Choice("partnership", "Partnership", "भागीदारी फर्म"),
    Choice("company", "Company", "कंपनी"),
    Choice("llp", "Limited liability partnership", "सीमित दायित्व भागीदारी"),
    Choice("other", "Other", "अन्य"),
)
DOCUMENT_TYPES = (
    Choice("identity_proof", "Identity proof of the applicant", "आवेदक का पहचान प्रमाण"),
    Choice(
        "ownership_proof",
        "Proof of ownership or occupancy of the premises",
        "परिसर के स्वामित्व/अधिभोग का प्रमाण",
    ),
    Choice(
        "incorporation_certificate", "Certificate of incorporation / registration", "निगमन/पंजीयन प्रमाण-पत्र"
    ),
    Choice("site_plan", "Site plan with the point of supply", "आपूर्ति बिंदु सहित स्थल नक्शा"),
    Choice(
        "electrical_inspector_approval",
        "Electrical inspector's approval of the installation",
        "विद्युत निरीक्षक का संस्थापन अनुमोदन",
    ),
    Choice(
        "pollution_consent",
        "Consent to establish (pollution control board)",
        "प्रदूषण नियंत्रण बोर्ड की स्थापना सहमति",
    ),
    Choice("authorisation_letter", "Authorisation of the signatory", "हस्ताक्षरकर्ता का प्राधिकार पत्र"),
)
MEDIA_TYPES = (
    Choice("application/pdf", "PDF", "पीडीएफ"),
    Choice("image/jpeg", "JPEG image", "जेपीईजी चित्र"),
    Choice("image/png", "PNG image", "पीएनजी चित्र"),
)
LOAD_UNITS = (
    Choice("kW", "kilowatt", "किलोवाट"),
    Choice("HP", "horsepower", "हॉर्स पावर"),
)
DEMAND_UNITS = (
    Choice("kVA", "kilovolt-ampere", "किलोवोल्ट-एम्पियर"),
    Choice("MVA", "megavolt-ampere", "मेगावोल्ट-एम्पियर"),
)

# Conversions to the units the rules are written in (kW, kVA). 1 HP = 746 W.
TO_KW = {"kW": Decimal(1), "HP": Decimal("0.746")}
TO_KVA = {"kVA": Decimal(1), "MVA": Decimal(1000)}

RULES: dict[str, Any] = {
    # Per category: connected load (kW) and contract demand (kVA) ranges, allowed voltages.
    "categories": {
        "lt_domestic": {
            "load_kw": ["0.1", "20"],
            "demand_kva": None,
            "demand_required": False,
            "voltages": ["230V", "415V"],
        },
        "lt_non_domestic": {
            "load_kw": ["0.1", "112"],
            "demand_kva": ["1", "125"],
            "demand_required": False,
            "voltages": ["230V", "415V"],
        },
        "lt_industrial": {
            "load_kw": ["1", "112"],
            "demand_kva": ["1", "125"],
            "demand_required": False,
            "voltages": ["415V"],
        },
        "ht_industrial": {
            "load_kw": ["50", "200000"],
            "demand_kva": ["50", "100000"],
            "demand_required": True,
            "voltages": ["11kV", "33kV", "132kV"],
        },
    },
    # Per voltage: what the network can carry at it.
    "voltages": {
        "230V": {"max_load_kw": "5"},
        "11kV": {"max_demand_kva": "3000"},
        "33kV": {"max_demand_kva": "10000"},
        "132kV": {"min_demand_kva": "5000"},
    },
    # Documents required: for the listed categories (all when absent), from a connected load up.
    "documents": [
        {"doc_type": "identity_proof"},
        {"doc_type": "ownership_proof"},
        {"doc_type": "incorporation_certificate", "categories": ["lt_industrial", "ht_industrial"]},
        {"doc_type": "site_plan", "categories": ["lt_industrial", "ht_industrial"]},
        {"doc_type": "electrical_inspector_approval", "categories": ["ht_industrial"]},
        {"doc_type": "electrical_inspector_approval", "min_load_kw": "50"},
        {"doc_type": "pollution_consent", "categories": ["ht_industrial"]},
    ],
}

_DOCUMENT = (
    Field("doc_type", CHOICE, "Document", "दस्तावेज़", choices=DOCUMENT_TYPES),
    Field(
        "file_name",
        TEXT,
        "File name",
        "फ़ाइल का नाम",
        max_length=120,
        pattern=r"[A-Za-z0-9][A-Za-z0-9 ._()-]{0,119}",
    ),
    Field("media_type", CHOICE, "File type", "फ़ाइल प्रकार", choices=MEDIA_TYPES),
    Field("sha256", TEXT, "SHA-256 of the file", "फ़ाइल का SHA-256", max_length=64, pattern=r"[0-9a-f]{64}"),
    Field(
        "content_base64",
        BASE64,
        "File content (base64)",
        "फ़ाइल (base64)",
        required=False,
        max_bytes=MAX_INLINE_BYTES,
    ),
    Field(
        "url",
        TEXT,
        "Where the hub fetches the file",
        "फ़ाइल का पता (URL)",
        required=False,
        max_length=500,
        pattern=r"https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~%/=?&+-]*)?",
    ),
)

FORM = FormDefinition(
    name="new_connection",
    version=VERSION,
    title_en="Application for a new electricity connection",
    title_hi="नए बिजली कनेक्शन हेतु आवेदन",
    root=Field(
        "form",
        GROUP,
        "Application",
        "आवेदन",
        type_name="ConnectionFormV1",
        fields=(
            Field(
                "enterprise",
                GROUP,
                "Investor / enterprise",
                "निवेशक / उद्यम",
                type_name="EnterpriseV1",
                fields=(
                    Field("name", TEXT, "Name of the enterprise", "उद्यम का नाम", max_length=120),
                    Field("name_hi", TEXT, "Name in Hindi", "हिन्दी में नाम", required=False, max_length=120),
                    Field("constitution", CHOICE, "Constitution", "संगठन का प्रकार", choices=CONSTITUTIONS),
                    Field("pan", TEXT, "PAN", "पैन", max_length=10, pattern=r"[A-Z]{5}[0-9]{4}[A-Z]"),
                    Field(
                        "gstin",
                        TEXT,
                        "GSTIN",
                        "जीएसटीआईएन",
                        required=False,
                        max_length=15,
                        pattern=r"[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][0-9A-Z]Z[0-9A-Z]",
                    ),
                ),
            ),
            Field(
                "contact",
                GROUP,
                "Contact person",
                "संपर्क व्यक्ति",
                type_name="ContactV1",
                fields=(
                    Field("name", TEXT, "Name", "नाम", max_length=120),
                    Field(
                        "mobile", TEXT, "Mobile number", "मोबाइल नंबर", max_length=10, pattern=r"[6-9][0-9]{9}"
                    ),
                    Field(
                        "email",
                        TEXT,
                        "E-mail",
                        "ई-मेल",
                        required=False,
                        max_length=120,
                        pattern=r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
                    ),
                ),
            ),
            Field(
                "premises",
                GROUP,
                "Premises to be supplied",
                "आपूर्ति हेतु परिसर",
                type_name="PremisesV1",
                fields=(
                    Field("address_line", TEXT, "Address", "पता", max_length=200),
                    Field(
                        "locality",
                        TEXT,
                        "Locality / village",
                        "मोहल्ला / ग्राम",
                        required=False,
                        max_length=120,
                    ),
                    Field("district", CHOICE, "District", "ज़िला", choices=DISTRICTS),
                    Field("pin_code", TEXT, "PIN code", "पिन कोड", max_length=6, pattern=r"[1-9][0-9]{5}"),
                    Field("area_class", CHOICE, "Area class", "क्षेत्र की श्रेणी", choices=AREA_CLASSES),
                ),
            ),
            Field(
                "supply",
                GROUP,
                "Supply applied for",
                "आवेदित आपूर्ति",
                type_name="SupplyV1",
                fields=(
                    Field("category", CHOICE, "Category", "श्रेणी", choices=CATEGORIES),
                    Field(
                        "connected_load",
                        GROUP,
                        "Connected load",
                        "संयोजित भार",
                        type_name="ConnectedLoadV1",
                        fields=(
                            Field(
                                "value",
                                DECIMAL,
                                "Value",
                                "मान",
                                minimum=Decimal("0.1"),
                                maximum=Decimal("300000"),
                            ),
                            Field("unit", CHOICE, "Unit", "इकाई", choices=LOAD_UNITS),
                        ),
                    ),
                    Field(
                        "contract_demand",
                        GROUP,
                        "Contract demand",
                        "अनुबंध मांग",
                        required=False,
                        type_name="ContractDemandV1",
                        fields=(
                            Field(
                                "value",
                                DECIMAL,
                                "Value",
                                "मान",
                                minimum=Decimal("0.1"),
                                maximum=Decimal("100000"),
                            ),
                            Field("unit", CHOICE, "Unit", "इकाई", choices=DEMAND_UNITS),
                        ),
                    ),
                    Field("supply_voltage", CHOICE, "Supply voltage", "आपूर्ति वोल्टेज", choices=VOLTAGES),
                    Field(
                        "purpose",
                        TEXT,
                        "Purpose of supply",
                        "आपूर्ति का प्रयोजन",
                        required=False,
                        max_length=200,
                    ),
                ),
            ),
            Field(
                "documents",
                LIST,
                "Documents",
                "दस्तावेज़",
                item_name="document",
                max_items=12,
                type_name="DocumentV1",
                fields=_DOCUMENT,
            ),
        ),
    ),
    rules=RULES,
)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def check(cleaned: dict[str, Any], prefix: str = "form/") -> list[FieldProblem]:
    """Cross-field limits of version 1 (category, load, demand, voltage, documents)."""
    problems: list[FieldProblem] = []
    supply = cleaned.get("supply") or {}
    category = supply.get("category")
    load = supply.get("connected_load") or {}
    demand = supply.get("contract_demand")
    voltage = supply.get("supply_voltage")
    if category is None or "value" not in load or "unit" not in load or voltage is None:
        return problems  # already reported field by field
    rule = RULES["categories"][category]
    load_kw = Decimal(load["value"]) * TO_KW[load["unit"]]
    low, high = (Decimal(x) for x in rule["load_kw"])
    if not low <= load_kw <= high:
        problems.append(
            FieldProblem(
                f"{prefix}supply/connected_load/value",
                "out_of_limits",
                f"{category}: connected load must be {low}-{high} kW (is {load_kw.normalize():f} kW)",
            )
        )
    demand_kva: Decimal | None = None
    if demand is not None and "value" in demand and "unit" in demand:
        demand_kva = Decimal(demand["value"]) * TO_KVA[demand["unit"]]
        if rule["demand_kva"] is None:
            problems.append(
                FieldProblem(
                    f"{prefix}supply/contract_demand", "not_applicable", f"{category} has no contract demand"
                )
            )
        else:
            dlow, dhigh = (Decimal(x) for x in rule["demand_kva"])
            if not dlow <= demand_kva <= dhigh:
                problems.append(
                    FieldProblem(
                        f"{prefix}supply/contract_demand/value",
                        "out_of_limits",
                        f"{category}: contract demand must be {dlow}-{dhigh} kVA",
                    )
                )
    elif rule["demand_required"]:
        problems.append(
            FieldProblem(f"{prefix}supply/contract_demand", "required", f"{category} needs a contract demand")
        )
    if voltage not in rule["voltages"]:
        problems.append(
            FieldProblem(
                f"{prefix}supply/supply_voltage",
                "out_of_limits",
                f"{category} is supplied at " + ", ".join(rule["voltages"]),
            )
        )
    else:
        vrule = RULES["voltages"].get(voltage, {})
        if "max_load_kw" in vrule and load_kw > Decimal(vrule["max_load_kw"]):
            problems.append(
                FieldProblem(
                    f"{prefix}supply/supply_voltage",
                    "out_of_limits",
                    f"{voltage} carries at most {vrule['max_load_kw']} kW",
                )
            )
        if (
            demand_kva is not None
            and "max_demand_kva" in vrule
            and demand_kva > Decimal(vrule["max_demand_kva"])
        ):
            problems.append(
                FieldProblem(
                    f"{prefix}supply/supply_voltage",
                    "out_of_limits",
                    f"{voltage} carries at most {vrule['max_demand_kva']} kVA",
                )
            )
        if (
            demand_kva is not None
            and "min_demand_kva" in vrule
            and demand_kva < Decimal(vrule["min_demand_kva"])
        ):
            problems.append(
                FieldProblem(
                    f"{prefix}supply/supply_voltage",
                    "out_of_limits",
                    f"{voltage} is for {vrule['min_demand_kva']} kVA and above",
                )
            )
    documents = cleaned.get("documents") or []
    problems += check_documents(documents, f"{prefix}documents/")
    given = {d.get("doc_type") for d in documents}
    for doc_type in required_documents(category, load_kw):
        if doc_type not in given:
            problems.append(FieldProblem(f"{prefix}documents", "document_missing", f"{doc_type} is required"))
    return problems


def check_documents(documents: list[dict[str, Any]], prefix: str = "documents/") -> list[FieldProblem]:
    problems = []
    for index, doc in enumerate(documents):
        if ("content_base64" in doc) == ("url" in doc):
            problems.append(
                FieldProblem(
                    f"{prefix}{index}", "content_or_url", "give exactly one of content_base64 or url"
                )
            )
    return problems


def to_documents(documents: list[dict[str, Any]]) -> tuple[DocumentRef, ...]:
    return tuple(
        DocumentRef(
            doc_type=d["doc_type"],
            file_name=d["file_name"],
            media_type=d["media_type"],
            sha256=d["sha256"],
            content=base64.b64decode(d["content_base64"]) if "content_base64" in d else None,
            url=d.get("url"),
        )
        for d in documents
    )


def required_documents(category: str, load_kw: Decimal) -> list[str]:
    needed: list[str] = []
    for rule in RULES["documents"]:
        if "categories" in rule and category not in rule["categories"]:
            continue
        if "min_load_kw" in rule and load_kw < Decimal(rule["min_load_kw"]):
            continue
        if rule["doc_type"] not in needed:
            needed.append(rule["doc_type"])
    return needed


def to_application(cleaned: dict[str, Any]) -> ConnectionApplicationForm:
    enterprise, contact, premises, supply = (
        cleaned["enterprise"],
        cleaned["contact"],
        cleaned["premises"],
        cleaned["supply"],
    )
    load = supply["connected_load"]
    demand = supply.get("contract_demand")
    return ConnectionApplicationForm(
        form_version=VERSION,
        enterprise_name=enterprise["name"],
        enterprise_name_hi=enterprise.get("name_hi") or enterprise["name"],
        constitution=enterprise["constitution"],
        pan=enterprise["pan"],
        gstin=enterprise.get("gstin"),
        contact_name=contact["name"],
        mobile=contact["mobile"],
        email=contact.get("email"),
        address_line=premises["address_line"],
        locality=premises.get("locality"),
        district=premises["district"],
        pin_code=premises["pin_code"],
        area_class=premises["area_class"],
        category=supply["category"],
        connected_load_kw=(Decimal(load["value"]) * TO_KW[load["unit"]]).quantize(Decimal("0.001")),
        contract_demand_kva=None
        if demand is None
        else (Decimal(demand["value"]) * TO_KVA[demand["unit"]]).quantize(Decimal("0.001")),
        supply_voltage=supply["supply_voltage"],
        purpose=supply.get("purpose"),
        documents=to_documents(cleaned.get("documents", [])),
        cleaned=cleaned,
    )
