"""Hindi and English words for the coded values the hub's forms, checks, workflows and documents
carry (``"lt_industrial"`` -> ("निम्न दाब औद्योगिक", "LT industrial")): one table, read by the
console (hub.console.labels) and the printed documents (certs.pdf), so an officer and a
certificate call a thing by the same name. The signed XML keeps the values themselves.
"""

from __future__ import annotations

from forms.newconnection import v1 as newconnection_form

# value -> (Hindi, English)
VALUE_LABELS: dict[str, tuple[str, str]] = {
    "pass": ("सफल", "Passed"),
    "fail": ("असफल", "Failed"),
    "passed": ("सफल", "Passed"),
    "failed": ("असफल", "Failed"),
    "working": ("चालू", "Working"),
    "nagar_palika": ("नगर पालिका", "Nagar Palika"),
    "nagar_nigam": ("नगर निगम", "Nagar Nigam"),
    "kW": ("संयोजित भार (किलोवाट)", "connected load (kW)"),
    "kVA": ("अनुबंधित मांग (केवीए)", "contract demand (kVA)"),
    "healthy": ("ठीक", "Healthy"),
    "faulty": ("खराब", "Faulty"),
    "no_meter": ("मीटर नहीं", "No meter"),
    "smart": ("स्मार्ट मीटर", "Smart meter"),
    "conventional": ("साधारण मीटर", "Conventional meter"),
    "connected": ("जुड़ा हुआ", "Connected"),
    "disconnected": ("कटा हुआ", "Disconnected"),
    "complete": ("पूर्ण", "Complete"),
    "incomplete": ("अपूर्ण", "Incomplete"),
    "pending": ("लंबित", "Pending"),
    "not_done": ("नहीं हुआ", "Not done"),
    "issued": ("जारी", "Issued"),
    "revoked": ("निरस्त", "Revoked"),
    "superseded": ("प्रतिस्थापित", "Superseded"),
    "gram_panchayat": ("ग्राम पंचायत", "Gram panchayat"),
    "janpad_panchayat": ("जनपद पंचायत", "Janpad panchayat"),
    "zila_panchayat": ("ज़िला पंचायत", "Zila panchayat"),
    "nagar_parishad": ("नगर परिषद", "Nagar parishad"),
    "municipal_council": ("नगर पालिका", "Municipal council"),
    "municipal_corporation": ("नगर निगम", "Municipal corporation"),
    "cooperative_society": ("सहकारी संस्था", "Cooperative society"),
    "other": ("अन्य", "Other"),
}
VALUE_LABELS.update(
    {
        "member": ("सदस्य", "Member"),
        "unknown": ("अज्ञात", "Unknown"),
        "none": ("कोई नहीं", "None"),
        "True": ("हाँ", "Yes"),
        "False": ("नहीं", "No"),
        "ekyc": ("ई-केवाईसी", "e-KYC"),
        "samagra_otp": ("समग्र ओटीपी", "Samagra OTP"),
        # Roles, as the history and the header name who acted.
        "dgm": ("उप महाप्रबंधक", "DGM"),
        "gm": ("महाप्रबंधक", "GM"),
        "dc_office_assistant": ("वितरण केंद्र कार्यालय सहायक", "DC office assistant"),
        "dc_assistant_manager": ("वितरण केंद्र सहायक प्रबंधक", "DC assistant manager"),
        "dc_manager": ("वितरण केंद्र प्रबंधक", "DC manager"),
        "applicant": ("आवेदक", "Applicant"),
        "system": ("प्रणाली", "System"),
        "revenue": ("राजस्व अनुभाग", "Revenue section"),
        # Why a payment waits in suspense, and how an officer settled it.
        "unknown_consumer": ("उपभोक्ता बिलिंग में नहीं", "Consumer not in billing"),
        "account_closed": ("खाता स्थायी रूप से बंद", "Account permanently closed"),
        "nothing_due": ("कोई बकाया नहीं (संभवतः दोहरा भुगतान)", "Nothing due (perhaps paid twice)"),
        "closed_bill": ("बिल बंद / पुराना बिल", "Bill closed or superseded"),
        "excess_payment": ("देय से अधिक भुगतान", "Paid more than due"),
        "short_payment": ("देय से कम भुगतान", "Paid less than due"),
        "late_capture": ("आदेश की अवधि के बाद भुगतान", "Captured after the order expired"),
        "matched": ("मेल खाते", "Matched"),
        "missing_in_hub": ("हब में नहीं", "Missing in the hub"),
        "missing_at_channel": ("चैनल की फ़ाइल में नहीं", "Missing at the channel"),
        "missing_in_billing": ("बिलिंग में नहीं", "Missing in billing"),
        "amount_differs": ("राशि भिन्न", "Amount differs"),
        "duplicate_at_channel": ("चैनल में दोहरा", "Duplicate at the channel"),
        "not_yet_posted": ("अभी जमा नहीं", "Not yet posted"),
        "in_suspense": ("उचंत में", "In suspense"),
        "billing_only": ("केवल बिलिंग में", "Only in billing"),
        "unreadable_line": ("अपठनीय पंक्ति", "Unreadable line"),
        # How an officer closed a reconciliation item.
        "posted_to_billing": ("बिलिंग में जमा किया", "Posted to billing"),
        "refund_requested": ("वापसी का अनुरोध किया", "Refund requested"),
        "written_off": ("बट्टे खाते में डाला", "Written off"),
        "apply": ("लागू", "Applied"),
        "adjust": ("समायोजित", "Adjusted"),
        "refund": ("वापसी", "Refunded"),
    }
)
for _choices in (
    newconnection_form.AREA_CLASSES,
    newconnection_form.CATEGORIES,
    newconnection_form.VOLTAGES,
    newconnection_form.DISTRICTS,
    newconnection_form.CONSTITUTIONS,
    newconnection_form.DOCUMENT_TYPES,
):
    for _choice in _choices:
        VALUE_LABELS.setdefault(_choice.value, (_choice.label_hi, _choice.label_en))
