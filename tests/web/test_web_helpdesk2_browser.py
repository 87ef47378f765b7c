"""Issue 17's second half in a real Chromium at a desktop width and at 375 px: bulk actions
in the queue, driven by the keyboard shortcuts (keys.js) and by "select all". Same server and
browser as ``test_web_browser.py`` (its fixtures are imported)."""

# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.tickets.models import TicketCreate

from .test_web_browser import (  # noqa: F401 - browser and server are fixtures
    Server,
    _assert_no_sideways_scroll,
    _login,
    browser,
    server,
)

pytestmark = pytest.mark.browser
WIDTHS = [1280, 375]


def _tab(browser: Any, width: int) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": width, "height": 800})
    return context, context.new_page()


@pytest.mark.parametrize("width", WIDTHS)
class TestBulkInTheBrowser:
    def test_keyboard_selects_and_bulk_closes(
        self, browser: Any, server: Server, width: int
    ) -> None:
        """j moves to a row, x ticks it, Apply closes only the ticked ticket; / focuses the
        search and ? opens the shortcut list."""
        from playwright.sync_api import expect

        hub = server.hub
        cid = hub.add_customer(CustomerCreate(name=f"Bulk Person {width}")).id
        made = [
            hub.open_ticket(TicketCreate(customer_id=cid, type="question", subject=f"B{i}")).id
            for i in range(3)
        ]
        context, tab = _tab(browser, width)
        try:
            _login(tab, server)
            tab.goto(f"{server.url}/tickets?customer_id={cid}", wait_until="load")
            _assert_no_sideways_scroll(tab, f"/tickets with bulk at {width}px")
            tab.locator("body").press("j")
            tab.keyboard.press("j")
            expect(tab.locator("tr.current")).to_have_attribute("data-ticket", str(made[1]))
            tab.keyboard.press("x")
            expect(tab.get_by_label(f"Select ticket #{made[1]}")).to_be_checked()
            tab.get_by_label("Bulk action").select_option("close")
            tab.get_by_role("button", name="Apply to the selected").click()
            expect(tab.get_by_role("status")).to_contain_text("1 ticket changed")
            assert ["new", "closed", "new"] == [hub.get_ticket(i).status for i in made]
            tab.get_by_role("link", name="Back to the queue").click()
            tab.wait_for_url(f"{server.url}/tickets?customer_id={cid}")
            tab.wait_for_load_state("load")
            tab.keyboard.press("/")
            expect(tab.locator("#search")).to_be_focused()
            tab.keyboard.press("Escape")
            tab.keyboard.press("?")
            expect(tab.locator("#shortcuts")).to_have_attribute("open", "")
        finally:
            context.close()

    def test_select_all_then_set_priority(self, browser: Any, server: Server, width: int) -> None:
        from playwright.sync_api import expect

        hub = server.hub
        cid = hub.add_customer(CustomerCreate(name=f"All Person {width}")).id
        made = [
            hub.open_ticket(TicketCreate(customer_id=cid, type="question", subject=f"A{i}")).id
            for i in range(2)
        ]
        context, tab = _tab(browser, width)
        try:
            _login(tab, server)
            tab.goto(f"{server.url}/tickets?customer_id={cid}")
            tab.get_by_label("Select every ticket on this page").check()
            for i in made:
                expect(tab.get_by_label(f"Select ticket #{i}")).to_be_checked()
            tab.get_by_label("Bulk action").select_option("priority")
            tab.get_by_label("Set priority").select_option("urgent")
            tab.get_by_role("button", name="Apply to the selected").click()
            expect(tab.get_by_role("status")).to_contain_text("2 tickets changed")
            _assert_no_sideways_scroll(tab, f"the bulk result at {width}px")
            assert {"urgent"} == {hub.get_ticket(i).priority for i in made}
        finally:
            context.close()


@pytest.mark.parametrize("width", WIDTHS)
class TestCannedInTheBrowser:
    def test_save_insert_and_send_and_set_pending(
        self, browser: Any, server: Server, width: int
    ) -> None:
        """/canned refuses an unknown placeholder beside the form; a saved reply is inserted
        at the cursor (r focuses the reply box), filled in; "Send and set pending" sends it
        and moves the ticket."""
        from playwright.sync_api import expect

        hub = server.hub
        cid = hub.add_customer(CustomerCreate(name=f"Canned Person {width}")).id
        tid = hub.open_ticket(TicketCreate(customer_id=cid, type="question", subject="Q")).id
        context, tab = _tab(browser, width)
        try:
            _login(tab, server)
            tab.goto(f"{server.url}/canned")
            _assert_no_sideways_scroll(tab, f"/canned at {width}px")
            tab.get_by_label("Title").fill(f"Greet {width}")
            tab.get_by_label("Text").fill("Dear {custmer.name}")
            tab.get_by_role("button", name="Save").click()
            expect(tab.get_by_role("alert")).to_contain_text("unknown placeholder {custmer.name}")
            tab.get_by_label("Text").fill("Dear {customer.name}, about #{ticket.id}")
            tab.get_by_role("button", name="Save").click()
            expect(tab.locator("table.canned")).to_contain_text(f"Greet {width}")
            tab.goto(f"{server.url}/tickets/{tid}", wait_until="load")
            _assert_no_sideways_scroll(tab, f"/tickets/{tid} with canned at {width}px")
            tab.locator("body").press("r")
            expect(tab.locator("#comment-body")).to_be_focused()
            tab.keyboard.type("Hello.")
            tab.get_by_label("Canned reply").select_option(label=f"Greet {width}")
            tab.get_by_role("button", name="Insert").click()
            expect(tab.locator("#comment-body")).to_have_value(
                f"Hello.\n\nDear Canned Person {width}, about #{tid}"
            )
            assert tab.url.endswith(f"/tickets/{tid}")  # no round trip with the script
            tab.get_by_role("button", name="Send and set pending").click()
            expect(tab.locator("ol.comments")).to_contain_text(f"Dear Canned Person {width}")
            assert "pending" == hub.get_ticket(tid).status
        finally:
            context.close()


@pytest.mark.parametrize("width", WIDTHS)
class TestExportInTheBrowser:
    def test_queue_and_customers_export_buttons(
        self, browser: Any, server: Server, width: int
    ) -> None:
        """The queue's CSV link downloads the filtered tickets; the customers list's XLSX
        link downloads the searched customers."""
        hub = server.hub
        name = f"Export Person {width}"
        cid = hub.add_customer(CustomerCreate(name=name)).id
        hub.open_ticket(TicketCreate(customer_id=cid, type="question", subject=f"E {width}"))
        context, tab = _tab(browser, width)
        try:
            _login(tab, server)
            tab.goto(f"{server.url}/tickets?customer_id={cid}", wait_until="load")
            with tab.expect_download() as got:
                tab.get_by_role("link", name="CSV").click()
            text = open(got.value.path(), encoding="utf-8").read()  # noqa: SIM115
            assert f"E {width}" in text and 2 == len(text.splitlines())
            tab.goto(f"{server.url}/customers?search=Export+Person+{width}", wait_until="load")
            _assert_no_sideways_scroll(tab, f"/customers with export at {width}px")
            with tab.expect_download() as got:
                tab.get_by_role("link", name="Excel (XLSX)").click()
            assert got.value.suggested_filename == "customers.xlsx"
        finally:
            context.close()


@pytest.mark.parametrize("width", WIDTHS)
class TestTimeZoneInTheBrowser:
    def test_the_browsers_zone_then_a_refused_name(
        self, browser: Any, server: Server, width: int
    ) -> None:
        """A user with no zone gets the browser's (Asia/Tokyo here) after their first page;
        /account/time-zone refuses a zone that does not exist, beside the field."""
        from playwright.sync_api import expect

        from customer_flow.users.models import UserCreate

        email, password = f"tz{width}@team.example.org", "zone keeper pass"
        user = server.hub.add_user(UserCreate(email=email, role="agent", password=password))
        context = browser.new_context(
            viewport={"width": width, "height": 800}, timezone_id="Asia/Tokyo"
        )
        tab = context.new_page()
        try:
            _login(tab, server, email, password)
            expect(tab.get_by_role("link", name="Asia/Tokyo")).to_be_visible()
            assert "Asia/Tokyo" == server.hub.get_user(user.id).time_zone
            tab.goto(f"{server.url}/account/time-zone", wait_until="load")
            _assert_no_sideways_scroll(tab, f"/account/time-zone at {width}px")
            tab.get_by_label("Time zone").fill("Mars/Olympus_Mons")
            tab.get_by_role("button", name="Save").click()
            expect(tab.get_by_role("alert")).to_contain_text("no time zone named")
            tab.get_by_label("Time zone").fill("America/Sao_Paulo")
            tab.get_by_role("button", name="Save").click()
            expect(tab.get_by_role("status")).to_contain_text("America/Sao_Paulo")
        finally:
            context.close()


@pytest.mark.parametrize("width", WIDTHS)
class TestSavedViewsInTheBrowser:
    def test_sort_by_a_header_then_save_and_reopen_the_view(
        self, browser: Any, server: Server, width: int
    ) -> None:
        """The Priority header sorts urgent first (a second click reverses it); "Save this
        view" keeps filters and sort, and its link opens the same queue."""
        import re

        from playwright.sync_api import expect

        hub = server.hub
        cid = hub.add_customer(CustomerCreate(name=f"Sort Person {width}")).id
        low = hub.open_ticket(
            TicketCreate(customer_id=cid, type="question", subject="L", priority="low")
        ).id
        urgent = hub.open_ticket(
            TicketCreate(customer_id=cid, type="question", subject="U", priority="urgent")
        ).id
        context, tab = _tab(browser, width)
        try:
            _login(tab, server)
            tab.goto(f"{server.url}/tickets?customer_id={cid}", wait_until="load")
            tab.get_by_role("link", name="Priority", exact=True).click()
            expect(tab).to_have_url(re.compile(r"sort=priority"))
            rows = tab.locator("#results tbody tr")
            expect(rows.first).to_have_attribute("data-ticket", str(urgent))
            tab.get_by_role("link", name="Priority", exact=True).click()
            expect(tab).to_have_url(re.compile(r"sort=-priority"))
            expect(rows.first).to_have_attribute("data-ticket", str(low))
            tab.get_by_text("Save this view").click()
            tab.get_by_label("Name").fill(f"Calm first {width}")
            tab.get_by_role("button", name="Save view").click()
            tab.goto(f"{server.url}/tickets", wait_until="load")
            _assert_no_sideways_scroll(tab, f"/tickets with saved views at {width}px")
            tab.get_by_role("link", name=f"Calm first {width}").click()
            expect(tab).to_have_url(re.compile(rf"customer_id={cid}"))
            expect(rows.first).to_have_attribute("data-ticket", str(low))
        finally:
            context.close()
