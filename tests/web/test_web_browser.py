"""The pages in a real Chromium (Playwright for Python, /usr/bin/chromium) against uvicorn on
loopback: login, create and edit a customer, search as you type, logout; XSS payloads in every
text field; the forms with JavaScript off; a narrow screen; tickets; an import with a bad row and
its rejects file, and XSS payloads inside an imported file.

Without /usr/bin/chromium these tests skip and say why, unless CUSTOMER_FLOW_REQUIRE_BROWSER=1,
which makes them fail instead (CI sets it). ``playwright install`` is never needed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import TicketCreate
from customer_flow.users.models import UserCreate

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE = os.environ.get("CUSTOMER_FLOW_REQUIRE_BROWSER") == "1"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
AGENT = ("agent@team.example.org", "field worker pass")

pytestmark = pytest.mark.browser


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
        if REQUIRE:
            pytest.fail(f"CUSTOMER_FLOW_REQUIRE_BROWSER=1 and {reason}", pytrace=False)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    hub: Hub


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """uvicorn serving the app on 127.0.0.1 and a free port, in a thread."""
    _require_chromium()
    import uvicorn

    from customer_flow.web.app import create_app

    path = tmp_path_factory.mktemp("browser") / "browser.db"
    queue_url = f"sqlite:///{path.with_name('queue.db')}"
    settings = Settings(
        database_url=f"sqlite:///{path}",
        actor="browser-tests",
        password_memory_kib=19456,
        password_time_cost=2,
        queue_url=queue_url,
        import_dir=path.with_name("imports"),
    )
    hub = Hub(settings)
    hub.init()
    hub.add_user(UserCreate(email=AGENT[0], role="agent", password=AGENT[1]))
    port = _free_port()
    config = uvicorn.Config(create_app(hub=hub), host="127.0.0.1", port=port, log_level="error")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    # The worker runs what the import page starts (a huey consumer in its own process).
    env = {**os.environ, "CUSTOMER_FLOW_QUEUE_URL": queue_url,
           "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "customer_flow", "--db", settings.database_url, "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield Server(url=f"http://127.0.0.1:{port}", hub=hub)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        uv.should_exit = True
        thread.join(timeout=10)
        hub.close()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # The import page's preview comes from the worker (polled every second): on a busy
    # machine it can take longer than Playwright's 5 s default.
    expect.set_options(timeout=30_000)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context whose page fails the test if any dialog (alert) opens."""
    context = browser.new_context()
    p = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    p.on("dialog", on_dialog)
    p.set_default_timeout(10_000)
    # A page load waits as long as ``expect`` does: on a busy shared machine the first /login
    # of a module (its server and worker just started) once took over 10 s in the full suite.
    p.set_default_navigation_timeout(30_000)
    yield p
    context.close()
    assert dialogs == [], f"a script ran: alert({dialogs})"


def _assert_no_sideways_scroll(page: Any, what: str) -> None:
    """The page as it stands fits the viewport's width (a narrow screen stays usable)."""
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} scrolls sideways by {overflow}px"


def _login(page: Any, server: Server, email: str = AGENT[0], password: str = AGENT[1]) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server.url}/customers")


class TestBrowserFlow:
    def test_login_create_edit_search_logout(self, page: Any, server: Server) -> None:
        """The everyday round in a real browser."""
        from playwright.sync_api import expect

        page.goto(f"{server.url}/customers")
        expect(page).to_have_url(f"{server.url}/login?next=/customers")
        _login(page, server)
        page.get_by_role("link", name="New customer").click()
        page.get_by_label("Name").fill("Joana Browser")
        page.get_by_label("Email").fill("joana@browser.pt")
        page.get_by_label("Phone").fill("+351 912 000 111")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Joana Browser")
        expect(page.get_by_text("+351912000111", exact=True)).to_be_visible()
        page.get_by_role("link", name="Edit").click()
        page.get_by_label("Name").fill("Joana B. Browser")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Joana B. Browser")
        # History shows the change.
        expect(page.locator("ul.changes").first).to_contain_text("Joana Browser")
        # Search as you type: the results change without a page load.
        server.hub.add_customer(CustomerCreate(name="Other Person"))
        page.get_by_role("link", name="Customers").first.click()
        marker = page.evaluate("() => (window.__same_page = 42)")
        page.get_by_label("Search name, email or phone").press_sequentially("joana", delay=30)
        rows = page.locator("#results tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Joana B. Browser")
        assert marker == page.evaluate("() => window.__same_page")  # HTMX swapped, no reload
        expect(page).to_have_url(f"{server.url}/customers?search=joana")
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(f"{server.url}/login")
        page.goto(f"{server.url}/customers")
        expect(page).to_have_url(f"{server.url}/login?next=/customers")

    def test_htmx_search_after_the_session_ended_goes_to_login(
        self, page: Any, server: Server
    ) -> None:
        """The search box's HTMX request without a session moves the whole page to /login."""
        from playwright.sync_api import expect

        _login(page, server)
        page.context.clear_cookies()
        page.get_by_label("Search name, email or phone").press_sequentially("ana", delay=30)
        expect(page).to_have_url(f"{server.url}/login?next=/customers%3Fsearch%3Dana")
        expect(page.get_by_role("heading", level=1)).to_have_text("Log in")

    def test_wrong_password_shows_the_message(self, page: Any, server: Server) -> None:
        from playwright.sync_api import expect

        page.goto(f"{server.url}/login")
        page.get_by_label("Email").fill(AGENT[0])
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_have_text("wrong email or password")

    def test_forms_work_with_javascript_off(self, browser: Any, server: Server) -> None:
        from playwright.sync_api import expect

        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        try:
            _login(page, server)
            page.goto(f"{server.url}/customers/new")
            page.get_by_label("Name").fill("No Script")
            page.get_by_label("Email").fill("not an email")
            page.get_by_role("button", name="Create").click()
            expect(page.locator("#email-error")).to_be_visible()
            page.get_by_label("Email").fill("noscript@x.pt")
            page.get_by_role("button", name="Create").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("No Script")
            page.get_by_role("button", name="Move to trash").click()
            expect(page.get_by_role("status")).to_contain_text("In the trash")
            page.get_by_role("button", name="Restore").click()
            expect(page.get_by_role("button", name="Move to trash")).to_be_visible()
            page.goto(f"{server.url}/customers")
            page.get_by_label("Search name, email or phone").fill("noscript")
            page.get_by_role("button", name="Search").click()
            expect(page.locator("#results tbody tr")).to_have_count(1)
        finally:
            context.close()

    def test_narrow_screen_has_no_sideways_scroll(self, browser: Any, server: Server) -> None:
        context = browser.new_context(viewport={"width": 360, "height": 740})
        page = context.new_page()
        try:
            _login(page, server)
            for path in ("/customers", "/customers/new", "/ticket-types", "/imports"):
                page.goto(f"{server.url}{path}")
                _assert_no_sideways_scroll(page, path)
        finally:
            context.close()


class TestXss:
    @pytest.mark.parametrize("payload", PAYLOADS)
    def test_payloads_in_every_text_field_show_as_text(
        self, page: Any, server: Server, payload: str
    ) -> None:
        """Name, email, phone, extra fields, search, login email and the error messages that
        echo them: the browser shows the payload as text and runs nothing."""
        from playwright.sync_api import expect

        # The login form echoes the email it was given.
        page.goto(f"{server.url}/login")
        page.get_by_label("Email").fill(payload)
        page.get_by_label("Password").fill("whatever at all")
        page.get_by_role("button", name="Log in").click()
        assert payload == page.get_by_label("Email").input_value()
        _login(page, server)
        # Create: the payload in name; email and phone are refused with a message echoing them.
        page.goto(f"{server.url}/customers/new")
        page.get_by_label("Name").fill(payload)
        page.get_by_label("Email").fill(payload)
        page.get_by_label("Phone").fill(payload)
        page.get_by_role("button", name="Create").click()
        assert payload == page.get_by_label("Name").input_value()
        assert payload == page.get_by_label("Email").input_value()
        expect(page.locator("#email-error")).to_be_visible()
        page.get_by_label("Email").fill("")
        page.get_by_role("button", name="Create").click()
        if page.locator("#phone-error").count():
            page.get_by_label("Phone").fill("")
            page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(payload)
        cid = int(page.url.rstrip("/").rsplit("/", 1)[1])
        # Extra fields (keys and values) arrive through the API; the detail page shows them.
        from customer_flow.customers.models import CustomerUpdate

        server.hub.update_customer(cid, CustomerUpdate(extra={payload: payload}))
        page.reload()
        expect(page.locator("dl.fields")).to_contain_text(payload)
        # The list and the search box (HTMX and plain).
        page.goto(f"{server.url}/customers")
        page.get_by_label("Search name, email or phone").fill(payload)
        expect(page.locator("#results")).to_contain_text(payload)
        page.goto(f"{server.url}/customers?search={payload}")
        assert payload == page.get_by_label("Search name, email or phone").input_value()
        # Nothing injected made it into the DOM as markup.
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("main script").count() == 0


# -- tickets -----------------------------------------------------------------------------------


class TestTicketsInTheBrowser:
    def test_open_a_ticket_for_a_customer_comment_and_change_its_status(
        self, page: Any, server: Server
    ) -> None:
        """From the customer's page: open a ticket (the type's fields swap in by HTMX), reply,
        add an internal note, then move it along with the status buttons."""
        from playwright.sync_api import expect

        cid = server.hub.add_customer(CustomerCreate(name="Ticket Person")).id
        _login(page, server)
        page.goto(f"{server.url}/customers/{cid}")
        page.get_by_role("link", name="Open a ticket").click()
        expect(page.get_by_role("radio", name="Ticket Person")).to_be_checked()
        page.get_by_label("Type").select_option(label="Technical issue")
        product = page.get_by_label("product")
        expect(product).to_be_visible()  # swapped in without a page load
        page.get_by_label("Subject").fill("App crashes on start")
        page.get_by_label("Description").fill("Since the update.")
        page.get_by_role("button", name="Open ticket").click()
        # The required field was left empty: the form comes back with the message by it.
        expect(page.get_by_role("alert")).to_contain_text("required for type technical_issue")
        expect(page.get_by_label("Subject")).to_have_value("App crashes on start")
        page.get_by_label("product").select_option("mobile app")
        page.get_by_role("button", name="Open ticket").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("App crashes on start")
        expect(page.locator("dl.fields")).to_contain_text("mobile app")
        expect(page.locator(".sla-table")).to_contain_text("First response")
        # A public reply, then an internal note; they look different.
        page.get_by_label("Comment").fill("We are on it.")
        page.get_by_role("button", name="Add comment").click()
        expect(page.locator(".comment.public")).to_contain_text("We are on it.")
        page.get_by_label("Comment").fill("Looks like the cache.")
        page.get_by_label("Internal note (team only)").check()
        page.get_by_role("button", name="Add comment").click()
        expect(page.locator(".comment.internal")).to_contain_text("Looks like the cache.")
        expect(page.locator(".comment.internal .kind")).to_have_text("Internal note")
        # The reply opened the ticket; only the allowed moves are offered.
        expect(page.locator(".status")).to_have_text("open")
        page.get_by_role("button", name="Mark pending").click()
        expect(page.locator(".status")).to_have_text("pending")
        expect(page.get_by_role("status")).to_contain_text("paused")
        page.get_by_role("button", name="Mark resolved").click()
        expect(page.locator(".status")).to_have_text("resolved")
        expect(page.get_by_role("button", name="Mark pending")).to_have_count(0)
        page.get_by_role("button", name="Close").click()
        expect(page.locator(".status")).to_have_text("closed")
        page.get_by_role("button", name="Reopen").click()
        expect(page.locator(".status")).to_have_text("open")
        # The customer's page lists the ticket; the queue filters as you choose.
        page.goto(f"{server.url}/customers/{cid}")
        expect(page.locator("table.tickets")).to_contain_text("App crashes on start")
        page.goto(f"{server.url}/tickets")
        marker = page.evaluate("() => (window.__same_page = 7)")
        page.get_by_label("Type").select_option(label="Technical issue")
        expect(page).to_have_url(re.compile(r"type=technical_issue"))
        expect(page.locator("#results tbody tr")).to_have_count(1)
        page.get_by_label("Status", exact=True).select_option("closed")
        expect(page.locator("#results")).to_contain_text("No tickets match.")
        assert marker == page.evaluate("() => window.__same_page")

    def test_ticket_pages_fit_a_narrow_screen(self, browser: Any, server: Server) -> None:
        cid = server.hub.add_customer(CustomerCreate(name="Narrow")).id
        new = TicketCreate(customer_id=cid, type="bug_report", subject="x", fields={"steps": "1"})
        tid = server.hub.open_ticket(new).id
        context = browser.new_context(viewport={"width": 360, "height": 740})
        page = context.new_page()
        try:
            _login(page, server)
            for path in (
                "/tickets",
                "/tickets/new",
                f"/tickets/{tid}",
                f"/tickets/{tid}/edit",
                f"/customers/{cid}",
            ):
                page.goto(f"{server.url}{path}")
                _assert_no_sideways_scroll(page, path)
        finally:
            context.close()


class TestTicketXss:
    @pytest.mark.parametrize("payload", PAYLOADS)
    def test_payloads_in_ticket_fields_and_comments_show_as_text(
        self, page: Any, server: Server, payload: str
    ) -> None:
        """Subject, description, tags, an extra field and a comment body, typed into
        the forms, then shown on the ticket page, the queue and the customer page: as text."""
        from playwright.sync_api import expect

        cid = server.hub.add_customer(CustomerCreate(name="Xss Ticket")).id
        _login(page, server)
        page.goto(f"{server.url}/tickets/new?customer_id={cid}")
        page.get_by_label("Type").select_option(label="Billing question")
        page.get_by_label("Invoice number").fill(payload)
        page.get_by_label("Subject").fill(payload)
        page.get_by_label("Description").fill(payload)
        page.get_by_label("Tags").fill(payload)
        page.get_by_role("button", name="Open ticket").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(payload)
        tag = payload.lower()
        expect(page.locator("dl.fields")).to_contain_text(tag)
        expect(page.locator("dl.fields")).to_contain_text(payload)
        expect(page.locator(".body-text").first).to_have_text(payload)
        page.get_by_label("Comment").fill(payload)
        page.get_by_role("button", name="Add comment").click()
        expect(page.locator(".comment.public .body-text")).to_have_text(payload)
        page.get_by_label("Comment").fill(payload)
        page.get_by_label("Internal note (team only)").check()
        page.get_by_role("button", name="Add comment").click()
        expect(page.locator(".comment.internal .body-text")).to_have_text(payload)
        # The timeline shows every change.
        expect(page.locator("ul.changes").first).to_be_visible()
        # The queue (whole page, then filters as you go) and the customer's page.
        page.goto(f"{server.url}/tickets")
        page.get_by_label("Text in subject or description").fill(payload)
        expect(page.locator("#results tbody tr")).to_have_count(1)
        expect(page.locator("#results")).to_contain_text(payload)
        page.goto(f"{server.url}/customers/{cid}")
        expect(page.locator("table.tickets")).to_contain_text(payload)
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("main script").count() == 0


# -- imports -----------------------------------------------------------------------------------

IMPORT_CSV = (
    "Full Name,E-mail,Phone Number\n"
    "Ada Lovelace,ada@example.com,+44 20 7946 0000\n"
    "Bad Row,not-an-email,\n"
    "Grace Hopper,grace@example.com,\n"
)


class TestImportsInTheBrowser:
    def test_upload_preview_import_and_download_the_rejects(
        self, page: Any, server: Server, tmp_path: Path
    ) -> None:
        """Upload a CSV with one bad row, see that row's problem in the preview, import, and
        download the rejects file from the result page."""
        from playwright.sync_api import expect

        _login(page, server)
        page.get_by_role("link", name="Import").click()
        page.wait_for_url(f"{server.url}/imports")
        page.get_by_label("File").set_input_files(
            {"name": "browser.csv", "mimeType": "text/csv", "buffer": IMPORT_CSV.encode()}
        )
        page.get_by_role("button", name="Preview").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("browser.csv")
        expect(page.locator(".balance")).to_have_text(
            "2 imported + 0 updated + 0 unchanged + 1 rejected = 3 rows read"
        )
        bad = page.locator('table.problems tr[data-row="2"]')
        expect(bad).to_contain_text("E-mail")
        expect(bad).to_contain_text("not-an-email")
        page.get_by_role("button", name="Import").click()
        page.wait_for_url(re.compile(r".*/imports/\d+$"))
        expect(page.locator(".balance")).to_contain_text("1 rejected = 3 rows read")
        with page.expect_download() as info:
            page.get_by_role("link", name="Download the rejects file (CSV)").click()
        saved = tmp_path / "rejects.csv"
        info.value.save_as(saved)
        lines = saved.read_text(encoding="utf-8").splitlines()
        assert "row,column,code,message,Full Name,E-mail,Phone Number" == lines[0]
        assert 2 == len(lines)
        assert lines[1].startswith("2,E-mail,")
        assert lines[1].endswith(",Bad Row,not-an-email,")
        batch_id = int(page.url.rsplit("/", 1)[1])
        assert 2 == server.hub.get_import(batch_id).imported

    def test_preview_fits_a_narrow_screen(self, browser: Any, server: Server) -> None:
        """The preview (wide tables scroll inside their box) does not scroll the page sideways."""
        context = browser.new_context(viewport={"width": 360, "height": 740})
        page = context.new_page()
        try:
            _login(page, server)
            page.goto(f"{server.url}/imports")
            page.get_by_label("File").set_input_files(
                {"name": "narrow.csv", "mimeType": "text/csv", "buffer": IMPORT_CSV.encode()}
            )
            page.get_by_role("button", name="Preview").click()
            page.wait_for_url(re.compile(r".*/imports/jobs/\d+$"))
            page.locator(".balance").wait_for()  # the worker's preview, shown by the polling
            _assert_no_sideways_scroll(page, "the preview")
        finally:
            context.close()


class TestImportXss:
    @pytest.mark.parametrize("payload", PAYLOADS)
    def test_payloads_in_a_file_show_as_text_in_the_preview(
        self, page: Any, server: Server, payload: str
    ) -> None:
        """A file whose header, names and file name carry the payload: the preview shows each
        as text and runs nothing."""
        from playwright.sync_api import expect

        quoted = '"' + payload.replace('"', '""') + '"'
        body = (
            f"Name,Email,{quoted}\n"
            f"{quoted},{quoted},{quoted}\n"
            f"Fine Person,fine@example.com,{quoted}\n"
        )
        _login(page, server)
        page.goto(f"{server.url}/imports")
        page.get_by_label("File").set_input_files(
            {"name": f"{payload}.csv", "mimeType": "text/csv", "buffer": body.encode()}
        )
        page.get_by_role("button", name="Preview").click()
        expect(page.locator(".balance")).to_contain_text("1 rejected = 2 rows read")
        expect(page.locator("table.problems")).to_contain_text(payload)
        expect(page.locator("ul.notes")).to_contain_text(payload)
        # The file name, less any folder part a "/" in it made (browsers send '"' as %22).
        name = payload.rsplit("/", 1)[-1].replace('"', "%22")
        expect(page.get_by_role("heading", level=1)).to_contain_text(name)
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("main script").count() == 0
