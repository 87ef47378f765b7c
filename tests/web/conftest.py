"""Fixtures for the web door: a Hub with fast (but still floor-strength) argon2 parameters,
users of every role with API tokens, and an in-process client of the app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from customer_flow.core.config import Settings
from customer_flow.hub import Hub
from customer_flow.users.models import User, UserCreate
from customer_flow.users.passwords import Passwords
from customer_flow.web.app import create_app
from customer_flow.worker import make_queue

PASSWORD = "correct horse battery"
ROLES = ("admin", "agent", "viewer")


@pytest.fixture
def web_settings(db_url: str) -> Settings:
    # The OWASP floor (m = 19 MiB, t = 2): as strong as we allow, and quick enough for tests.
    return Settings(
        database_url=db_url,
        actor="tester",
        default_region="US",
        password_memory_kib=19456,
        password_time_cost=2,
    )


@pytest.fixture
def web_hub(web_settings: Settings) -> Iterator[Hub]:
    with Hub(web_settings) as h:
        yield h


@dataclass
class Person:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Team:
    """One user per role (plus a second agent), each with an API token."""

    hub: Hub
    client: TestClient
    people: dict[str, Person] = field(default_factory=dict)

    def add(self, name: str, role: str) -> Person:
        user = self.hub.add_user(
            UserCreate(email=f"{name}@team.example.org", name=name, role=role, password=PASSWORD)  # type: ignore[arg-type]
        )
        token = self.hub.create_token("tests", user_id=user.id).token
        person = Person(user=user, token=token)
        self.people[name] = person
        return person

    def __getitem__(self, name: str) -> Person:
        return self.people[name]


#: The argon2 hash of PASSWORD, per parameters: made once per process (each hash costs ~60 ms
#: at the floor, and every web test's ``team`` adds four users).
_TEAM_HASHES: dict[Passwords, str] = {}


@contextmanager
def _team_password_hashed_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """While the ``team`` fixture adds its users, PASSWORD's hash is computed once and reused
    (a real argon2id hash with the Hub's parameters: logins verify it as any other). Other
    passwords, and every hash a test itself asks for, are computed as usual."""
    real = Passwords.hash

    def hash_once(self: Passwords, password: str) -> str:
        if password != PASSWORD:
            return real(self, password)
        if self not in _TEAM_HASHES:
            _TEAM_HASHES[self] = real(self, password)
        return _TEAM_HASHES[self]

    with monkeypatch.context() as patched:
        patched.setattr(Passwords, "hash", hash_once)
        yield


@pytest.fixture
def team(web_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Team:
    client = TestClient(create_app(hub=web_hub))
    client.app.state.import_dir = tmp_path / "imports"  # type: ignore[attr-defined]
    # Jobs (web imports) run at once in the request: no worker process in these tests.
    immediate = web_hub.settings.model_copy(update={"queue_url": "memory://"})
    client.app.state.queue = make_queue(immediate)  # type: ignore[attr-defined]
    t = Team(hub=web_hub, client=client)
    with _team_password_hashed_once(monkeypatch):
        for role in ROLES:
            t.add(role, role)
        t.add("agent2", "agent")
    return t


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token from the next page."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/customers/new")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)
