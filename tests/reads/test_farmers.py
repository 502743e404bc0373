"""A farmer's read model: one conversation of SMS in and out, the latest kept; entries;
numbers we only wrote to; unknown numbers. The page: tests/console/test_farmers.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from roko_app.extensions import db
from roko_app.reads.farmers import farmer
from tests.factories import T0, add_entry, add_outbound, add_sms

FARMER = "612345678"


def test_the_conversation_keeps_the_latest_messages(app: Any) -> None:
    with app.app_context():
        for i in range(5):
            add_sms(FARMER, f"sms {i}", T0 + timedelta(minutes=i))
        db.session.commit()
        found = farmer(FARMER, limit=3)
        assert found is not None and found.conversation_truncated
        assert [item.text for item in found.conversation] == ["sms 2", "sms 3", "sms 4"]
        assert not farmer(FARMER, limit=5).conversation_truncated  # type: ignore[union-attr]


def test_sms_in_and_out_in_time_order_with_their_entries(app: Any) -> None:
    with app.app_context():
        entry = add_entry(FARMER, "VALID_FIRST", T0, code="U00000001", chances=1)
        reply = add_outbound(FARMER, "Merci !", T0, reply_to=entry.sms_id)  # same instant: the SMS in comes first
        later = add_entry(FARMER, "DUPLICATE", T0 + timedelta(minutes=1), code="U00000001")
        add_entry("622334455", "VALID_FIRST", T0, code="U00000002")  # someone else
        db.session.commit()
        found = farmer(FARMER)
        assert found is not None
        assert [(item.direction, item.id) for item in found.conversation] == [
            ("in", entry.sms_id), ("out", reply.id), ("in", later.sms_id)]
        assert [(item.entry_id, item.outcome) for item in found.conversation if item.direction == "in"] == [
            (entry.id, "VALID_FIRST"), (later.id, "DUPLICATE")]
        assert [e.id for e in found.entries] == [later.id, entry.id] and not found.entries_truncated


def test_entries_are_capped(app: Any) -> None:
    with app.app_context():
        for i in range(3):
            add_entry(FARMER, "BAD_FORMAT", T0 + timedelta(seconds=i))
        db.session.commit()
        found = farmer(FARMER, entries_limit=2)
        assert found is not None and len(found.entries) == 2 and found.entries_truncated


def test_a_number_we_only_wrote_to_and_an_unknown_one(app: Any) -> None:
    with app.app_context():
        add_outbound("655555555", "Promo ROKO", T0)
        db.session.commit()
        found = farmer("655555555")
        assert found is not None and [item.text for item in found.conversation] == ["Promo ROKO"]
        assert found.participant is None and found.entries == []
        assert farmer("699999999") is None


def test_a_foreign_sender_is_found_under_the_number_as_received(app: Any) -> None:
    with app.app_context():
        add_entry("33612345678", "INVALID_CODE", T0, code="U00000009", text="from abroad", guinea=False)
        db.session.commit()
        found = farmer("33612345678")
        assert found is not None and [item.text for item in found.conversation] == ["from abroad"]
