"""The message logs' read model: inbound SMS with their entry, outbound SMS by status
and number, newest first. The page: tests/console/test_messages.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from roko_app.extensions import db
from roko_app.reads.messages import inbound_page, outbound_page
from roko_app.reads.pager import Cursor
from tests.factories import T0, add_entry, add_outbound, add_sms


def test_inbound_rows_carry_their_entry_and_the_farmers_number(app: Any) -> None:
    with app.app_context():
        entry = add_entry("612345678", "VALID_FIRST", T0, code="U00000001")
        stray = add_sms("622334455", "hello?", T0 + timedelta(minutes=1))  # not classified
        foreign = add_entry("33612345678", "BAD_FORMAT", T0 + timedelta(minutes=2), guinea=False)
        db.session.commit()
        rows = inbound_page().rows
        assert [(row.id, row.entry_id, row.outcome, row.farmer) for row in rows] == [
            (foreign.sms_id, foreign.id, "BAD_FORMAT", "33612345678"), (stray.id, None, None, "622334455"),
            (entry.sms_id, entry.id, "VALID_FIRST", "612345678")]
        assert [row.id for row in inbound_page(phone="+224 612 34 56 78").rows] == [entry.sms_id]
        assert [row.id for row in inbound_page(phone="33612345678").rows] == [foreign.sms_id]  # by its entries


def test_outbound_by_status_and_number_in_keyset_pages(app: Any) -> None:
    with app.app_context():
        ids = [add_outbound(f"6{i % 2:08d}", f"n {i}", T0 + timedelta(seconds=i), status="FAILED" if i % 3 else "SENT").id
               for i in range(6)]
        db.session.commit()
        assert [m.id for m in outbound_page().rows] == ids[::-1]
        assert [m.id for m in outbound_page(status="SENT").rows] == [ids[3], ids[0]]
        assert [m.id for m in outbound_page(phone="600000001").rows] == [ids[5], ids[3], ids[1]]
        first = outbound_page(status="FAILED", limit=3)
        assert [m.id for m in first.rows] == [ids[5], ids[4], ids[2]] and first.first and first.newer is None
        last = outbound_page(status="FAILED", before=Cursor.decode(first.older), limit=3)
        assert [m.id for m in last.rows] == [ids[1]] and last.older is None and last.newer is not None
        assert outbound_page(status="FAILED", after=Cursor.decode(last.newer), limit=3) == first
