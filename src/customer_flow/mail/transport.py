"""The wire: IMAP through ``imap-tools`` (TLS or STARTTLS), SMTP through ``smtplib``.

Every failure becomes a ``MailServerError`` saying which server and what went wrong, never the
password; ``temporary`` says whether trying again later may help. A connection lost once the
message was handed over (after SMTP ``DATA``) is neither: the server may have taken it
(``mail_uncertain``).
"""

from __future__ import annotations

import imaplib
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, U
from imap_tools.errors import ImapToolsError

from customer_flow.core.errors import MailServerError
from customer_flow.mail.models import MailAccount

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["Fetched", "imap_session", "read_new", "send_message", "smtp_check", "smtp_session"]

TIMEOUT = 30.0


def _context(account: MailAccount) -> ssl.SSLContext:
    # Certificates and host names are always checked; a private CA can be named.
    return ssl.create_default_context(cafile=account.ca_file or None)


def _where(account: MailAccount) -> str:
    return f"{account.kind.upper()} {account.host}:{account.port} ({account.name})"


@contextmanager
def imap_session(account: MailAccount, password: str) -> Iterator[BaseMailBox]:
    """A logged-in IMAP session on the account's folder."""
    try:
        box: BaseMailBox
        if account.security == "tls":
            box = MailBox(
                account.host, account.port, timeout=TIMEOUT, ssl_context=_context(account)
            )
        else:
            box = MailBoxStartTls(
                account.host, account.port, timeout=TIMEOUT, ssl_context=_context(account)
            )
        box.login(account.username, password, initial_folder=account.folder)
    except (ImapToolsError, imaplib.IMAP4.error) as exc:
        raise MailServerError(
            f"{_where(account)}: login or folder {account.folder!r} refused: {_clean(exc)}",
            temporary=False,
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise MailServerError(f"{_where(account)}: cannot connect: {_clean(exc)}") from None
    try:
        yield box
    finally:
        with suppress(OSError, ImapToolsError, imaplib.IMAP4.error):
            box.logout()  # the connection may be gone already: nothing to close then


@dataclass(frozen=True)
class Fetched:
    """One message read: ``raw`` is the whole message, or only its header when it is larger
    than the limit (``whole`` is then False)."""

    uidvalidity: int
    uid: int
    size: int
    raw: bytes
    whole: bool


def _clean(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


def read_new(
    box: BaseMailBox,
    account: MailAccount,
    after: Callable[[int], int],
    *,
    max_bytes: int,
    limit: int,
) -> Iterator[Fetched]:
    """The messages after the last UID read (``after(uidvalidity)``), oldest first, one at a
    time, at most ``limit``. The mailbox is left as it was (nothing marked, moved or deleted)."""
    try:
        status = box.folder.status(account.folder, ["UIDVALIDITY"])
        uidvalidity = int(status["UIDVALIDITY"])
        last = after(uidvalidity)
        uids = sorted(int(u) for u in box.uids(AND(uid=U(str(last + 1), "*"))))
        # "n:*" always names the newest message, even when its UID is below n.
        for uid in [u for u in uids if u > last][:limit]:
            heads = list(box.fetch(uid_list=[str(uid)], headers_only=True, mark_seen=False))
            if not heads:
                continue  # expunged meanwhile
            size = heads[0].size_rfc822
            whole = size <= max_bytes
            part = "BODY.PEEK[]" if whole else "BODY.PEEK[HEADER]"
            typ, data = box.client.uid("FETCH", str(uid), f"({part})")
            literals = [item[1] for item in data if isinstance(item, tuple)]
            if typ != "OK" or not literals:
                raise MailServerError(f"{_where(account)}: message UID {uid} could not be read")
            yield Fetched(uidvalidity, uid, size, bytes(literals[0]), whole)
    except MailServerError:
        raise
    except (ImapToolsError, imaplib.IMAP4.error, OSError, ssl.SSLError, EOFError) as exc:
        raise MailServerError(f"{_where(account)}: the fetch stopped: {_clean(exc)}") from None


class _Smtp(smtplib.SMTP):
    """``smtplib.SMTP`` that remembers whether the message was handed over (``DATA`` begun):
    a connection lost after that may have delivered it."""

    data_begun = False

    def data(self, msg: Buffer | str) -> tuple[int, bytes]:
        self.data_begun = True
        return super().data(msg)


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    """The same over implicit TLS."""


@contextmanager
def _smtp(account: MailAccount, password: str) -> Iterator[_Smtp]:
    client: _Smtp
    try:
        if account.security == "tls":
            client = _SmtpSsl(
                account.host, account.port, timeout=TIMEOUT, context=_context(account)
            )
        else:
            client = _Smtp(account.host, account.port, timeout=TIMEOUT)
            client.starttls(context=_context(account))
    except (OSError, smtplib.SMTPException) as exc:
        raise MailServerError(
            f"{_where(account)}: cannot connect: {_clean(exc)}", code="mail_unreachable"
        ) from None
    try:
        try:
            _login(client, account.username, password)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailServerError(
                f"{_where(account)}: login refused ({exc.smtp_code})", code="mail_login"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailServerError(
                f"{_where(account)}: login failed: {_clean(exc)}", code="mail_login"
            ) from None
        yield client
    finally:
        with suppress(OSError, smtplib.SMTPException):
            client.quit()  # may be disconnected already


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    """Log in with PLAIN when offered (one try: ``login`` would try every mechanism in turn
    with a wrong password), else with what ``login`` picks."""
    client.ehlo_or_helo_if_needed()
    offered = client.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in offered:
        client.login(username, password)
        return
    client.user, client.password = username, password
    code, answer = client.auth("PLAIN", client.auth_plain)
    if code not in (235, 503):
        raise smtplib.SMTPAuthenticationError(code, answer)


@contextmanager
def smtp_session(account: MailAccount, password: str) -> Iterator[Callable[[EmailMessage], None]]:
    """A logged-in SMTP session: a function that sends one message. Opening it fails with
    ``mail_unreachable`` (no connection) or ``mail_login`` (the login was refused), before any
    message is touched. Sending: a 4xx answer or a connection lost before the message was
    handed over is temporary, a 5xx answer is not, and a connection lost after it was handed
    over (no answer to ``DATA``) is ``mail_uncertain``: it may have been sent."""
    with _smtp(account, password) as client:

        def send(message: EmailMessage) -> None:
            client.data_begun = False
            try:
                client.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                raise MailServerError(
                    f"{_where(account)}: recipient refused: {code} {_text(text)}",
                    temporary=code < 500,
                ) from None
            except smtplib.SMTPResponseException as exc:
                raise MailServerError(
                    f"{_where(account)}: {exc.smtp_code} {_text(exc.smtp_error)}",
                    temporary=exc.smtp_code < 500,
                ) from None
            except (OSError, smtplib.SMTPException, TimeoutError) as exc:
                if client.data_begun:
                    raise MailServerError(
                        f"{_where(account)}: the connection was lost after the message was "
                        f"handed over, before the server answered ({_clean(exc)}): it may have "
                        "been sent",
                        temporary=False,
                        code="mail_uncertain",
                    ) from None
                raise MailServerError(
                    f"{_where(account)}: sending stopped: {_clean(exc)}"
                ) from None

        yield send


def send_message(account: MailAccount, password: str, message: EmailMessage) -> None:
    """Send one message in a session of its own (see ``smtp_session``)."""
    with smtp_session(account, password) as send:
        send(message)


def smtp_check(account: MailAccount, password: str) -> None:
    """Connect, secure the connection and log in, sending nothing."""
    with _smtp(account, password) as client:
        client.noop()


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(value.split())[:300]
