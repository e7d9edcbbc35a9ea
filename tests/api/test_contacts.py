"""Contacts found or created from what integrators send (here through the chat API with
an API key): people are told apart by their external id, and no contact's phone or email
is taken by another."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select


def start(client: Any, key: str, **contact: Any) -> None:
    resp = client.post("/chat/api/sessions", json={"survey": "support-ticket", "contact": contact},
                       headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 201, resp.json


def contacts(app: Any) -> dict[str | None, tuple[str | None, str | None]]:
    from feedback.store.models import Contact, db

    with app.app_context():
        return {c.external_id: (c.phone, c.email) for c in db.session.scalars(select(Contact).order_by(Contact.id))}


def test_same_phone_or_email_under_another_external_id_is_another_person(app: Any, client: Any, api_key: str) -> None:
    start(client, api_key, id="cust-A", phone="+15551230001", email="home@example.com")
    start(client, api_key, id="cust-B", phone="+15551230001", email="home@example.com")
    found = contacts(app)
    assert set(found) == {"cust-A", "cust-B"}
    assert found["cust-A"] == ("+15551230001", "home@example.com"), "A keeps its phone and email"
    assert found["cust-B"] == (None, None), "B does not take A's phone or email"


def test_an_email_another_contact_holds_is_not_taken(app: Any, client: Any, api_key: str) -> None:
    start(client, api_key, id="cust-A", email="a@example.com")
    start(client, api_key, id="cust-C", email="c@example.com")
    start(client, api_key, id="cust-A", email="c@example.com")
    found = contacts(app)
    assert found["cust-A"] == (None, "a@example.com") and found["cust-C"] == (None, "c@example.com")
    start(client, api_key, id="cust-A", email="new@example.com")
    assert contacts(app)["cust-A"] == (None, "new@example.com"), "an email no one holds is taken"


def test_a_contact_found_by_phone_without_an_external_id_gets_it(app: Any, client: Any, api_key: str) -> None:
    start(client, api_key, phone="+15551230002")
    start(client, api_key, id="cust-D", phone="+15551230002")
    assert contacts(app) == {"cust-D": ("+15551230002", None)}
