"""Real mail servers for the tests: Dovecot (IMAP) under a temp folder, aiosmtpd (SMTP) in
the test process. Each gets a self-signed certificate made on the spot.

Dovecot is Debian's ``dovecot-imapd`` (``.ci/run`` installs it). Without it the mail tests skip,
unless ``CUSTOMER_FLOW_REQUIRE_MAIL=1``, which makes them fail instead.
"""

from __future__ import annotations

import contextlib
import email.policy
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

REQUIRE_MAIL = os.environ.get("CUSTOMER_FLOW_REQUIRE_MAIL") == "1"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, *, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key (openssl, valid one day)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Dovecot:
    """A running Dovecot: STARTTLS on ``port``, implicit TLS on ``tls_port``."""

    root: Path
    port: int
    tls_port: int
    cert: Path
    process: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a message the way a client would: IMAP APPEND over STARTTLS."""
        from imap_tools import MailBoxStartTls

        with MailBoxStartTls("127.0.0.1", self.port, ssl_context=self.client_context()).login(
            user, self.users[user], initial_folder=folder
        ) as box:
            box.append(raw, folder)


def start_dovecot(root: Path, users: dict[str, str]) -> Dovecot:
    """Dovecot with a throw-away config, passwd-file and Maildirs under ``root``."""
    if not os.path.exists(DOVECOT):
        message = f"Dovecot is not installed ({DOVECOT}): apt-get install dovecot-imapd"
        if REQUIRE_MAIL:
            pytest.fail(f"CUSTOMER_FLOW_REQUIRE_MAIL=1 and {message}", pytrace=False)
        pytest.skip(message)
    cert, key = self_signed_cert(root)
    port, tls_port = free_port(), free_port()
    if os.geteuid() == 0:
        # Dovecot never lets root read mail nor log in: run the sessions as its own users.
        mail_user = pwd.getpwnam("dovecot")
        login_user, internal_user = "dovenull", "dovecot"
    else:
        mail_user = pwd.getpwuid(os.geteuid())
        login_user = internal_user = mail_user.pw_name
    home = root / "home"
    home.mkdir()
    for folder in (root, home):
        os.chown(folder, mail_user.pw_uid, mail_user.pw_gid)
    root.chmod(0o755)
    (root / "passwd").write_text(
        "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in users.items())
    )
    config = root / "dovecot.conf"
    config.write_text(
        f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {mail_user.pw_uid}
last_valid_uid = {mail_user.pw_uid}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={home}/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""
    )
    (root / "passwd").chmod(0o644)
    key.chmod(0o600)
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port)
        wait_for_port(tls_port)
    except RuntimeError:
        process.kill()
        _, errors = process.communicate()
        log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
        raise RuntimeError(f"dovecot did not start: {errors.decode()} {log}") from None
    return Dovecot(root, port, tls_port, cert, process, dict(users))


@dataclass
class SmtpServer:
    """aiosmtpd in the test process: STARTTLS and AUTH, keeping what it receives. ``answers``
    queues replies (``"451 try later"``) that the next messages get instead of 250; ``"DROP"``
    keeps the message and cuts the connection without answering (the server took it, the
    client never hears so)."""

    port: int
    cert: Path
    received: list[Message] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    #: The SMTP session (one per connection) of each message that reached DATA, in order.
    sessions: list[Any] = field(default_factory=list)
    controller: Any = None

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def start_smtp(
    cert: Path, key: Path, user: str, password: str, *, implicit_tls: bool = False
) -> SmtpServer:
    """aiosmtpd with STARTTLS required, or (``implicit_tls``) TLS from the first byte."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    server = SmtpServer(port=free_port(), cert=cert)

    class Handler:
        async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
            server.sessions.append(session)
            answer = server.answers.pop(0) if server.answers else None
            if answer is not None and answer != "DROP":
                return answer
            server.envelopes.append(envelope)
            server.received.append(
                message_from_bytes(envelope.original_content, policy=email.policy.default)
            )
            if answer == "DROP":
                # Kept before the connection is cut: the client may look as soon as it sees that.
                smtp.transport.close()
            return "250 OK"

    def authenticate(
        _server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        )
        # handled=False: aiosmtpd then answers 535 itself (True would leave the client waiting).
        return AuthResult(success=ok, handled=False)

    # aiosmtpd offers AUTH over TLS only after its own STARTTLS: on a connection that is TLS
    # from the first byte, it must be told that TLS is not missing.
    tls: dict[str, Any] = (
        {"ssl_context": context, "auth_require_tls": False}
        if implicit_tls
        else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=server.port,
        authenticator=authenticate,
        auth_required=True,
        **tls,
    )
    controller.start()
    server.controller = controller
    return server


class CuttableProxy:
    """A TCP relay to ``port`` whose connections can be cut at any moment, as when a server
    goes down in the middle of a conversation."""

    def __init__(self, port: int) -> None:
        import threading

        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._hold(client):
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _hold(self, client: socket.socket) -> bool:
        """Whether to keep ``client`` waiting instead of relaying it (a subclass's choice)."""
        return False

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every open connection (new ones still go through)."""
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()
