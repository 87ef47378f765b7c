"""The helpdesk pages of issue 17 in a real Chromium, at a desktop width and at 375 px: the
queue's saved views, sort and triage columns, and the ticket page's assignment to an agent or
a team (with a refusal shown by the form). Same server and browser as
``test_web_browser.py`` (its fixtures are imported, so the tests' arguments name them)."""

# ruff: noqa: F811

from __future__ import annotations

import re
from typing import Any

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.teams.models import TeamCreate
from customer_flow.tickets.models import TicketCreate

from .test_web_browser import (  # noqa: F401 - browser and server are fixtures
    AGENT,
    Server,
    _assert_no_sideways_scroll,
    _login,
    browser,
    server,
)

pytestmark = pytest.mark.browser
WIDTHS = [1280, 375]


def _context(browser: Any, width: int) -> Any:
    return browser.new_context(viewport={"width": width, "height": 800})


@pytest.mark.parametrize("width", WIDTHS)
class TestQueueForTriage:
    def test_views_sort_and_columns(self, browser: Any, server: Server, width: int) -> None:
        """ "My tickets" shows the agent's ticket only; the sort control puts ``sort=due`` in
        the address; the customer's name links to their page; nothing scrolls sideways."""
        from playwright.sync_api import expect

        hub = server.hub
        cid = hub.add_customer(CustomerCreate(name=f"Queue Person {width}")).id
        mine = hub.open_ticket(
            TicketCreate(
                customer_id=cid, type="question", subject=f"Mine {width}", assignee=AGENT[0]
            )
        ).id
        hub.open_ticket(TicketCreate(customer_id=cid, type="question", subject=f"Free {width}"))
        context = _context(browser, width)
        tab = context.new_page()
        try:
            _login(tab, server)
            tab.goto(f"{server.url}/tickets")
            _assert_no_sideways_scroll(tab, f"/tickets at {width}px")
            tab.get_by_role("link", name="My tickets").click()
            expect(tab).to_have_url(re.compile(r"view=mine"))
            rows = tab.locator("#results tbody tr")
            expect(rows).to_have_count(len(hub.list_tickets(_mine()).items))
            expect(tab.locator("#results")).to_contain_text(f"Mine {width}")
            expect(tab.locator("#results")).not_to_contain_text(f"Free {width}")
            tab.get_by_label("Sort").select_option("due")
            expect(tab).to_have_url(re.compile(r"sort=due"))
            link = tab.get_by_role("link", name=f"Queue Person {width}").first
            expect(link).to_have_attribute("href", f"/customers/{cid}")
            expect(tab.locator("#results")).to_contain_text("first reply")
            _assert_no_sideways_scroll(tab, f"/tickets?view=mine at {width}px")
            assert mine > 0
        finally:
            context.close()


def _mine() -> Any:
    from customer_flow.tickets.models import TicketQuery

    return TicketQuery(assignee=AGENT[0])


@pytest.mark.parametrize("width", WIDTHS)
class TestAssignInTheBrowser:
    def test_assign_to_a_team_and_see_a_refusal(
        self, browser: Any, server: Server, width: int
    ) -> None:
        """The agent list offers active agents; a team with no agents is refused by the form
        (the message is shown, the ticket unchanged); a round-robin team with the agent in it
        gives the ticket to them."""
        from playwright.sync_api import expect

        hub = server.hub
        empty, desk = f"empty-{width}", f"desk-{width}"
        hub.add_team(TeamCreate(key=empty, name=f"Empty {width}"))
        hub.add_team(TeamCreate(key=desk, name=f"Desk {width}"))
        hub.add_team_member(desk, AGENT[0])
        cid = hub.add_customer(CustomerCreate(name=f"Assign Person {width}")).id
        tid = hub.open_ticket(TicketCreate(customer_id=cid, type="question", subject="Help")).id
        context = _context(browser, width)
        tab = context.new_page()
        try:
            _login(tab, server)
            tab.goto(f"{server.url}/tickets/{tid}")
            _assert_no_sideways_scroll(tab, f"/tickets/{tid} at {width}px")
            tab.get_by_label("Team", exact=True).select_option(empty)
            tab.get_by_role("button", name="Assign").click()
            expect(tab.locator("#assign-error")).to_contain_text("has no active agents")
            _assert_no_sideways_scroll(tab, f"the refused assignment at {width}px")
            assert hub.get_ticket(tid).team is None
            tab.get_by_label("Team", exact=True).select_option(desk)
            tab.get_by_role("button", name="Assign").click()
            expect(tab.locator("dl.fields")).to_contain_text(desk)
            expect(tab.locator("dl.fields")).to_contain_text(AGENT[0])
            assert (AGENT[0], desk) == (hub.get_ticket(tid).assignee, hub.get_ticket(tid).team)
        finally:
            context.close()


@pytest.mark.parametrize("width", WIDTHS)
class TestCustomerBesideTheTicket:
    def test_find_the_customer_as_you_type_and_see_them_by_the_ticket(
        self, browser: Any, server: Server, width: int
    ) -> None:
        """Typing part of a phone number lists the customer (HTMX, no page load); choosing
        them opens the ticket for them; the ticket page shows their name, email, phone and
        other open ticket; nothing scrolls sideways."""
        from playwright.sync_api import expect

        hub = server.hub
        name = f"Search Person {width}"
        phone = f"+35191{width:03d}4567"[:13]
        cid = hub.add_customer(
            CustomerCreate(name=name, email=f"search{width}@example.com", phone=phone)
        ).id
        earlier = hub.open_ticket(
            TicketCreate(customer_id=cid, type="question", subject=f"Earlier {width}")
        ).id
        context = _context(browser, width)
        tab = context.new_page()
        try:
            _login(tab, server)
            tab.goto(f"{server.url}/tickets/new")
            marker = tab.evaluate("() => (window.__same_page = 7)")
            tab.get_by_label("Customer", exact=True).fill(f"search{width}@")
            choice = tab.get_by_role("radio", name=re.compile(name))
            expect(choice).to_be_checked()
            assert marker == tab.evaluate("() => window.__same_page")
            _assert_no_sideways_scroll(tab, f"/tickets/new at {width}px")
            tab.get_by_label("Type").select_option(label="General question")
            tab.get_by_label("Subject").fill(f"New one {width}")
            tab.get_by_role("button", name="Open ticket").click()
            expect(tab.get_by_role("heading", level=1)).to_contain_text(f"New one {width}")
            card = tab.locator(".customer-card")
            expect(card.get_by_role("link", name=name)).to_have_attribute(
                "href", f"/customers/{cid}"
            )
            expect(card).to_contain_text(f"search{width}@example.com")
            expect(card.get_by_role("link", name=f"Earlier {width}")).to_have_attribute(
                "href", f"/tickets/{earlier}"
            )
            _assert_no_sideways_scroll(tab, f"the ticket page at {width}px")
        finally:
            context.close()


@pytest.mark.parametrize("width", WIDTHS)
class TestUserAdminInTheBrowser:
    def test_add_a_user_and_change_their_role(
        self, browser: Any, server: Server, width: int
    ) -> None:
        """An admin adds an agent, makes them a viewer and disables them; the page fits."""
        from playwright.sync_api import expect

        from customer_flow.users.models import UserCreate

        admin = (f"admin{width}@team.example.org", "admins own passphrase")
        server.hub.add_user(UserCreate(email=admin[0], role="admin", password=admin[1]))
        new = f"person{width}@team.example.org"
        context = _context(browser, width)
        tab = context.new_page()
        try:
            _login(tab, server, *admin)
            tab.goto(f"{server.url}/users")
            _assert_no_sideways_scroll(tab, f"/users at {width}px")
            tab.get_by_label("Email", exact=True).fill(new)
            tab.get_by_label("Name", exact=True).fill(f"Person {width}")
            tab.get_by_label("Role", exact=True).select_option("agent")
            tab.get_by_label("Password", exact=True).fill("a fine long passphrase")
            tab.get_by_role("button", name="Add user").click()
            row = tab.locator("tr", has_text=new)
            expect(row).to_contain_text(f"Person {width}")
            row.get_by_label(f"Role of {new}").select_option("viewer")
            row.get_by_role("button", name="Change role").click()
            expect(tab.locator("tr", has_text=new).get_by_label(f"Role of {new}")).to_have_value(
                "viewer"
            )
            tab.get_by_role("button", name=f"Disable {new}").click()
            expect(tab.locator("tr", has_text=new)).to_contain_text("no")
            assert server.hub.find_user(new).active is False
            _assert_no_sideways_scroll(tab, f"/users after the changes at {width}px")
        finally:
            context.close()
