"""The pages of issue 18 items 3 to 5 in a real Chromium, at a desktop width and at 375 px: the
import page's job (progress polled by HTMX until the worker's preview and import show), the
reply form's files, and the admin's mail settings with Test. Same server, worker and browser
as ``test_web_browser.py`` (its fixtures are imported, so the tests' arguments name them)."""

# ruff: noqa: F811

from __future__ import annotations

import re
from typing import Any

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.tickets.models import TicketCreate
from customer_flow.users.models import UserCreate

from .test_web_browser import (  # noqa: F401 - browser and server are fixtures
    IMPORT_CSV,
    Server,
    _assert_no_sideways_scroll,
    _login,
    browser,
    server,
)

pytestmark = pytest.mark.browser
WIDTHS = [1280, 375]
WAIT = 60_000  # the worker's turn, on a busy machine; a broken run still ends


def _page(browser: Any, width: int) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    return context, page


def _admin(server: Server) -> tuple[str, str]:
    email, password = "mail-admin@team.example.org", "mail admin pass 1"
    try:
        server.hub.find_user(email)
    except Exception:
        server.hub.add_user(UserCreate(email=email, role="admin", password=password))
    return email, password


def _csv(width: int) -> bytes:
    """The browser tests' file, with addresses of its own (each width imports new people)."""
    return IMPORT_CSV.replace("@example.com", f"@w{width}.example.com").encode()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_import_page_follows_its_jobs(browser: Any, server: Server, width: int) -> None:
    """Preview answers with the job's page at once; the page polls until the worker's preview
    shows, and after Import until the result does."""
    from playwright.sync_api import expect

    context, page = _page(browser, width)
    try:
        _login(page, server)
        page.goto(f"{server.url}/imports")
        page.get_by_label("File").set_input_files(
            {"name": f"jobs{width}.csv", "mimeType": "text/csv", "buffer": _csv(width)}
        )
        page.get_by_role("button", name="Preview").click()
        page.wait_for_url(re.compile(r".*/imports/jobs/\d+$"))
        expect(page.locator(".balance")).to_have_text(
            "2 imported + 0 updated + 0 unchanged + 1 rejected = 3 rows read", timeout=WAIT
        )
        _assert_no_sideways_scroll(page, f"the preview at {width}px")
        page.get_by_role("button", name="Import").click()
        page.wait_for_url(re.compile(r".*/imports/\d+$"))
        expect(page.locator(".balance")).to_contain_text("1 rejected = 3 rows read")
        batch = server.hub.get_import(int(page.url.rsplit("/", 1)[1]))
        assert (f"jobs{width}.csv", 2) == (batch.source, batch.imported)
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reply_with_two_files(browser: Any, server: Server, width: int) -> None:
    from playwright.sync_api import expect

    hub = server.hub
    cid = hub.add_customer(CustomerCreate(name=f"Files Person {width}")).id
    ticket = hub.open_ticket(TicketCreate(customer_id=cid, type="question", subject="Files"))
    context, page = _page(browser, width)
    try:
        _login(page, server)
        page.goto(f"{server.url}/tickets/{ticket.id}")
        _assert_no_sideways_scroll(page, f"the ticket page at {width}px")
        page.get_by_label("Comment").fill("Here are the files")
        page.get_by_label("Attach files").set_input_files(
            [
                {"name": "a.txt", "mimeType": "text/plain", "buffer": b"first"},
                {"name": "b.pdf", "mimeType": "application/pdf", "buffer": b"%PDF second"},
            ]
        )
        page.get_by_role("button", name="Add comment").click()
        expect(page.get_by_role("link", name="a.txt")).to_be_visible()
        expect(page.get_by_role("link", name="b.pdf")).to_be_visible()
        assert ["a.txt", "b.pdf"] == [a.filename for a in hub.list_attachments(ticket.id)]
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_mail_settings_save_and_test(browser: Any, server: Server, width: int) -> None:
    """An admin adds an SMTP server naming its password's variable; Test says what failed."""
    from playwright.sync_api import expect

    email, password = _admin(server)
    context, page = _page(browser, width)
    try:
        _login(page, server, email, password)
        page.get_by_role("link", name="Mail", exact=True).click()
        page.wait_for_url(f"{server.url}/settings/mail")
        _assert_no_sideways_scroll(page, f"/settings/mail at {width}px")
        page.get_by_label("Name", exact=True).fill(f"out{width}")
        page.get_by_label("Kind").select_option("smtp")
        page.get_by_label("Host").fill("127.0.0.1")
        page.get_by_label("Port").fill("9")  # nothing listens there: the test must say so
        page.get_by_label("Security").select_option("starttls")
        page.get_by_label("User name").fill("mailer")
        page.get_by_label("Its name or path").fill("CF_BROWSER_SMTP_PASSWORD")
        page.get_by_label("Address").fill("help@desk.test")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("table.mail-accounts")).to_contain_text("CF_BROWSER_SMTP_PASSWORD")
        page.get_by_role("button", name="Test").click()
        expect(page.locator("ul.checks")).to_contain_text(f"smtp out{width}: FAILED")
        _assert_no_sideways_scroll(page, f"/settings/mail tested at {width}px")
        page.get_by_role("button", name=f"Remove out{width}").click()
        expect(page.locator("table.mail-accounts")).not_to_contain_text(f"out{width}")
    finally:
        context.close()
