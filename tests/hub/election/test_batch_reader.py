"""The batch's plain-item reader reads what read_question reads, and leaves every other item to it."""

from __future__ import annotations

from typing import Any

import pytest

from forms.errors import FormError
from hub.election.soap import _plain_question, read_batch
from hub.election.verification import RejectedQuestion, read_ref
from hub.views.certificates import HOLDER_NAME_MAX, REF_MAX, CertificateQuestion, read_question

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

# Items the plain reader must leave to read_question: some are still valid (a value to clean).
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


def reference(data: dict[str, Any], index: int = 0) -> CertificateQuestion | RejectedQuestion:
    try:
        return read_question(data, prefix=f"items/{index}/")
    except FormError as exc:
        return RejectedQuestion(exc, read_ref(data))


def same(left: CertificateQuestion | RejectedQuestion, right: CertificateQuestion | RejectedQuestion) -> bool:
    if isinstance(left, RejectedQuestion) and isinstance(right, RejectedQuestion):
        a, b = left.error, right.error
        return (
            left.ref == right.ref
            and (a.code, a.message) == (b.code, b.message)
            and [(p.field, p.code, p.message) for p in a.problems]
            == [(p.field, p.code, p.message) for p in b.problems]
        )
    return left == right


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_a_plain_item_is_read_as_read_question_reads_it(name: str) -> None:
    data = PLAIN[name]
    plain = _plain_question(data)
    assert plain is not None, "the plain reader should take this item"
    assert plain == read_question(data)
    assert same(read_batch([data])[0], reference(data))


@pytest.mark.parametrize("name", sorted(OTHER))
def test_any_other_item_is_left_to_read_question(name: str) -> None:
    data = OTHER[name]
    assert _plain_question(data) is None
    assert same(read_batch([data], first_index=3)[0], reference(data, 3))


def test_a_mixed_batch_keeps_order_indexes_and_errors() -> None:
    items = [*PLAIN.values(), *OTHER.values()] * 2
    got = read_batch(items, first_index=10)
    assert len(got) == len(items)
    for index, (data, answer) in enumerate(zip(items, got, strict=True), start=10):
        assert same(answer, reference(data, index)), data
