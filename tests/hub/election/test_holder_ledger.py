"""The holders' SMS ledger: claim_first_notices inserts each (document, day) once and says which were new."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.election.holder_sms import claim_first_notices, holder_mobiles
from hub.models.election import HolderNotice
from hub.models.nodues import ConsumerAccount, NoDuesApplication

AT = datetime(2026, 11, 23, 4, 5, 6, 789012, tzinfo=UTC)
DAY = date(2026, 11, 23)


def test_new_rows_are_claimed_once_with_their_client_and_moment(dbsession: Session) -> None:
    # Client ids that an array literal must quote: quote, backslash, comma, braces, space, Devanagari.
    clients = ['a"b', "c\\d", "e,f", "{g}", "h i", "प्राधिकरण", "NULL", ""]
    rows = [(900_000 + i, DAY, client) for i, client in enumerate(clients)]
    claimed = claim_first_notices(dbsession, rows, AT)
    assert sorted(claimed) == [(doc, DAY) for doc, _day, _client in rows]

    again = claim_first_notices(
        dbsession, [*rows, (900_100, DAY, "x"), (900_000, date(2026, 11, 24), "y")], AT
    )
    assert sorted(again) == [(900_000, date(2026, 11, 24)), (900_100, DAY)]

    stored = dbsession.execute(
        select(HolderNotice.document_id, HolderNotice.day, HolderNotice.client_id, HolderNotice.created_at)
        .where(HolderNotice.document_id >= 900_000)
        .order_by(HolderNotice.document_id, HolderNotice.day)
    ).all()
    expected = sorted([*rows, (900_100, DAY, "x"), (900_000, date(2026, 11, 24), "y")])
    assert [(d, day, c) for d, day, c, _at in stored] == expected
    assert {at.replace(tzinfo=UTC) if at.tzinfo is None else at for *_rest, at in stored} == {AT}


def test_nothing_to_claim(dbsession: Session) -> None:
    assert claim_first_notices(dbsession, [], AT) == []


def test_holder_mobiles_finds_each_application_on_file(dbsession: Session) -> None:
    account = ConsumerAccount(public_id="acc-ledger-1", client_id="portal", mobile="9000000001")
    dbsession.add(account)
    dbsession.flush()
    # Public ids an array literal must quote (a quote, a comma, a backslash), and plain ones.
    on_file = {
        'ND-"Q"': "9000000011",
        "ND-A,B": "9000000012",
        "ND-C\\D": "9000000013",
        "ND-PLAIN": "9000000014",
    }
    for public_id, mobile in on_file.items():
        dbsession.add(
            NoDuesApplication(
                public_id=public_id,
                client_id="portal",
                account_id=account.id,
                samagra_id="123456789",
                mobile=mobile,
                connections=[],
                purpose={},
                office_code="MPCZ",
                status="approved",
            )
        )
    dbsession.flush()
    asked = sorted([*on_file, "ND-NOT-ON-FILE"])
    assert holder_mobiles(dbsession, asked) == on_file
    assert holder_mobiles(dbsession, ["ND-NOT-ON-FILE"]) == {}
    assert holder_mobiles(dbsession, []) == {}
