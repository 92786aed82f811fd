"""Reading verification questions: each batch item on its own, a bad one rejected with its own error."""

from __future__ import annotations

from typing import Any

import pytest

from hub.certificates.questions import (
    HOLDER_NAME_MAX,
    REF_MAX,
    CertificateQuestion,
    RejectedQuestion,
    read_batch,
)

NUMBER = "MPCZ/ND/2026-27/0000007"
CODE = "ABCD-EFGH-JKLM"

PLAIN: dict[str, dict[str, Any]] = {
    "number and code": {"number": NUMBER, "code": CODE},
    "with ref": {"ref": "row 7", "number": NUMBER, "code": CODE},
    "ref folded": {"ref": "  row \t 7 ", "number": NUMBER, "code": CODE},
    "ref at its limit": {"ref": "r" * REF_MAX, "number": NUMBER, "code": CODE},
    "ref cleaned to its limit": {"ref": " " + "r" * REF_MAX + " ", "number": NUMBER, "code": CODE},
    "empty ref": {"ref": "", "number": NUMBER, "code": CODE},
    "name": {"number": NUMBER, "holder_name": "Kiran Sharma"},
    "name folded": {"number": NUMBER, "holder_name": "  Kiran \n Sharma "},
    "Devanagari name": {"number": NUMBER, "holder_name": "किरण शर्मा"},
    "name at its limit": {"number": NUMBER, "holder_name": "k" * HOLDER_NAME_MAX},
    "samagra": {"number": NUMBER, "samagra_id": "123456789"},
    "samagra of 8": {"number": NUMBER, "samagra_id": "12345678"},
    "every field": {
        "ref": "r",
        "number": NUMBER,
        "code": CODE,
        "holder_name": "Kiran",
        "samagra_id": "123456789",
    },
    "empty code with a name": {"number": NUMBER, "code": "", "holder_name": "Kiran"},
    "empty samagra with a code": {"number": NUMBER, "code": CODE, "samagra_id": ""},
    "None code with a name": {"number": NUMBER, "code": None, "holder_name": "Kiran"},
    "shortest number and code": {"number": "A/-1", "code": "ab-9"},
    "longest code": {"number": NUMBER, "code": "A" * 20},
    "unknown key": {"number": NUMBER, "code": CODE, "extra": "<x>"},
}

# Items with a value to clean (still asked) or a value refused (rejected).
OTHER: dict[str, dict[str, Any]] = {
    "number with spaces around": {"number": f"  {NUMBER} ", "code": CODE},
    "code with a space": {"number": NUMBER, "code": "ABCD EFGH"},
    "code with spaces to fold": {"number": NUMBER, "code": " ABCD  EFGH "},
    "code only spaces": {"number": NUMBER, "code": "    ", "holder_name": "Kiran"},
    "samagra with spaces": {"number": NUMBER, "samagra_id": " 123456789 "},
    "no number": {"code": CODE},
    "None number": {"number": None, "code": CODE},
    "empty number": {"number": "", "code": CODE},
    "blank number": {"number": "   ", "code": CODE},
    "lower-case number": {"number": "mpcz/nd/1", "code": CODE},
    "number too long": {"number": "A" * 65, "code": CODE},
    "number with NUL": {"number": "MPCZ\x00/ND/1", "code": CODE},
    "number with markup": {"number": "MPCZ/<b>", "code": CODE},
    "number not a string": {"number": 7, "code": CODE},
    "number with a newline": {"number": NUMBER + "\n", "code": CODE},
    "number full-width": {"number": "ＭＰＣＺ/ND/1", "code": CODE},
    "code too short": {"number": NUMBER, "code": "ab"},
    "code too long": {"number": NUMBER, "code": "A" * 21},
    "code with markup": {"number": NUMBER, "code": "AB&<CD"},
    "code not a string": {"number": NUMBER, "code": 1234},
    "no secret": {"number": NUMBER},
    "only empty secrets": {"number": NUMBER, "code": "", "holder_name": "", "samagra_id": ""},
    "name only control characters": {"number": NUMBER, "holder_name": "\x00\x1b\u202e"},
    "name too long": {"number": NUMBER, "holder_name": "k" * (HOLDER_NAME_MAX + 1)},
    "name not a string": {"number": NUMBER, "holder_name": ["Kiran"]},
    "samagra too short": {"number": NUMBER, "samagra_id": "1234567"},
    "samagra too long": {"number": NUMBER, "samagra_id": "1234567890"},
    "samagra Devanagari digits": {"number": NUMBER, "samagra_id": "१२३४५६७८९"},
    "samagra not a string": {"number": NUMBER, "samagra_id": 123456789},
    "ref too long": {"ref": "r" * (REF_MAX + 1), "number": NUMBER, "code": CODE},
    "ref not a string": {"ref": 7, "number": NUMBER, "code": CODE},
    "bad ref and bad number": {"ref": "r" * 100, "number": "x", "code": CODE},
    "every field bad": {"ref": 1, "number": 2, "code": 3, "holder_name": 4, "samagra_id": 5},
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_a_valid_item_is_asked_with_its_values_cleaned(name: str) -> None:
    data = PLAIN[name]
    (question,) = read_batch([data])
    assert isinstance(question, CertificateQuestion)
    assert question.number == data["number"]
    assert question.code or question.holder_name or question.samagra_id
    assert question.ref is None or question.ref == " ".join(str(data["ref"]).split())


CLEANED = {
    "number with spaces around": CertificateQuestion(NUMBER, CODE),
    "code with a space": CertificateQuestion(NUMBER, "ABCD EFGH"),
    "samagra with spaces": CertificateQuestion(NUMBER, samagra_id="123456789"),
    "code with spaces to fold": CertificateQuestion(NUMBER, "ABCD EFGH"),
    "code only spaces": CertificateQuestion(NUMBER, holder_name="Kiran"),
    "number with NUL": CertificateQuestion("MPCZ/ND/1", CODE),
    "number with a newline": CertificateQuestion(NUMBER, CODE),
}


@pytest.mark.parametrize("name", sorted(CLEANED))
def test_values_are_cleaned_before_they_are_asked(name: str) -> None:
    assert read_batch([OTHER[name]]) == [CLEANED[name]]


@pytest.mark.parametrize("name", sorted(set(OTHER) - set(CLEANED)))
def test_a_bad_item_is_rejected_with_errors_naming_its_index(name: str) -> None:
    data = OTHER[name]
    (rejected,) = read_batch([data], first_index=3)
    assert isinstance(rejected, RejectedQuestion), rejected
    assert rejected.error.problems
    assert all(p.field.startswith("items/3/") for p in rejected.error.problems)
    ref = data.get("ref")
    assert rejected.ref == (" ".join(ref.split())[:REF_MAX] if isinstance(ref, str) else None)


def test_a_mixed_batch_keeps_order_and_indexes() -> None:
    items = [*PLAIN.values(), *OTHER.values()] * 2
    got = read_batch(items, first_index=10)
    assert len(got) == len(items)
    for index, (data, answer) in enumerate(zip(items, got, strict=True), start=10):
        if isinstance(answer, RejectedQuestion):
            assert all(p.field.startswith(f"items/{index}/") for p in answer.error.problems)
        else:
            assert answer == read_batch([data])[0]
