"""Users, passwords, sessions and API tokens in the Hub, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from customer_flow.core.config import Settings
from customer_flow.core.errors import (
    AuthenticationError,
    ConflictError,
    PermissionDeniedError,
    StateError,
    TooManyAttemptsError,
    ValidationError,
)
from customer_flow.hub import Hub
from customer_flow.store.schema import api_tokens, audit_log, login_failures, sessions, users
from customer_flow.users.models import UserCreate
from customer_flow.users.passwords import Passwords, common_passwords
from customer_flow.users.throttle import PAIR, address_key

from .conftest import PASSWORD


def _add(hub: Hub, email: str = "ana@team.example.org", role: str = "agent") -> int:
    return hub.add_user(UserCreate(email=email, role=role, password=PASSWORD)).id  # type: ignore[arg-type]


class TestPasswords:
    def test_hash_is_argon2id_with_the_configured_parameters(self, web_hub: Hub) -> None:
        """The stored hash is argon2id with m and t as configured, never the password."""
        _add(web_hub)
        with web_hub.store.read() as conn:
            stored = conn.execute(select(users.c.password_hash)).scalar_one()
        assert stored.startswith("$argon2id$")
        assert "m=19456,t=2" in stored
        assert PASSWORD not in stored

    def test_short_password_is_refused(self, web_hub: Hub) -> None:
        """Seven characters are refused with a clear message and no user is stored."""
        with pytest.raises(ValidationError, match="at least 8"):
            web_hub.add_user(UserCreate(email="a@b.pt", password="1234567"))
        assert web_hub.list_users() == []

    def test_long_password_is_not_truncated(self, web_hub: Hub) -> None:
        """A 200-character password works whole; its first 72 characters do not log in."""
        long = "x" * 100 + "y" * 100
        web_hub.add_user(UserCreate(email="a@b.pt", password=long))
        assert web_hub.login("a@b.pt", long).user.email == "a@b.pt"
        with pytest.raises(AuthenticationError):
            web_hub.login("a@b.pt", long[:72])

    def test_parameters_below_the_floor_are_refused(self) -> None:
        """m below 19 MiB or t below 2 cannot be configured."""
        with pytest.raises(ValidationError):
            Passwords(memory_kib=8192, time_cost=2)
        with pytest.raises(ValidationError):
            Passwords(memory_kib=19456, time_cost=1)

    def test_hash_is_upgraded_when_parameters_change(
        self, web_hub: Hub, web_settings: Settings
    ) -> None:
        """A good login under new parameters rehashes the stored password with them."""
        _add(web_hub)
        stronger = web_settings.model_copy(update={"password_memory_kib": 32768})
        hub2 = Hub(stronger, store=web_hub.store)
        hub2.login("ana@team.example.org", PASSWORD)
        with web_hub.store.read() as conn:
            stored = conn.execute(select(users.c.password_hash)).scalar_one()
        assert "m=32768,t=2" in stored
        assert PasswordHasher().verify(stored, PASSWORD)

    def test_duplicate_email_ignoring_case_is_a_conflict(self, web_hub: Hub) -> None:
        """Two users cannot share an email, whatever its case."""
        _add(web_hub)
        with pytest.raises(ConflictError):
            _add(web_hub, email="ANA@team.example.org")


class TestCommonPasswords:
    """ASVS 6.2.4: a new password from the 3,000 most common, or holding the email, is refused
    with one message, and nothing is stored."""

    @pytest.mark.parametrize(
        "password",
        [
            "password",
            "12345678",
            "        ",
            "PassWord",
            "qwertyuiop",
            "greyhoun",  # the last of the 3,000
            "aaaaaaaaaaaa",
            "ana.lima@team.example.org",
            "ANA.LIMA@TEAM.EXAMPLE.ORG",
            "my ana.lima@team.example.org!",
            "ana.lima",
            "xx-Ana.Lima-2026",
        ],
    )
    def test_guessable_password_is_refused_on_creation(self, web_hub: Hub, password: str) -> None:
        with pytest.raises(ValidationError) as refused:
            web_hub.add_user(UserCreate(email="ana.lima@team.example.org", password=password))
        assert "password_too_common" == refused.value.code
        assert "too easy to guess" in str(refused.value)
        assert [] == web_hub.list_users()

    def test_guessable_password_is_refused_on_a_change(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        for password in ("password", "ana@team.example.org"):
            with pytest.raises(ValidationError, match="too easy to guess"):
                web_hub.set_password(uid, password)
        assert web_hub.login("ana@team.example.org", PASSWORD)

    def test_a_local_part_of_three_characters_or_more_is_looked_for(self, web_hub: Hub) -> None:
        """`al@...` does not refuse every password with an "al" in it; `bob@...` refuses one
        with "Bob" in it."""
        web_hub.add_user(UserCreate(email="al@team.example.org", password="total recall 77"))
        with pytest.raises(ValidationError, match="too easy to guess"):
            web_hub.add_user(UserCreate(email="bob@team.example.org", password="Bobby tables 42"))

    def test_the_list_is_the_3000_most_common_of_eight_characters_or_more(self) -> None:
        listed = common_passwords()
        assert 3000 == len(listed)
        assert {"password", "12345678", "iloveyou"} <= listed
        assert all(len(p) >= 8 and p == p.lower() for p in listed)

    def test_an_ordinary_password_is_taken(self, web_hub: Hub) -> None:
        web_hub.add_user(UserCreate(email="ana@team.example.org", password="violet tractor 93"))
        assert web_hub.login("ana@team.example.org", "violet tractor 93")


def _backdate(hub: Hub, seconds: float) -> None:
    """Move every recorded failure ``seconds`` into the past (instead of waiting)."""
    with hub.store.write() as conn:
        rows = conn.execute(select(login_failures.c.id, login_failures.c.at)).all()
        for row in rows:
            at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
            conn.execute(
                update(login_failures)
                .where(login_failures.c.id == row.id)
                .values(at=at - timedelta(seconds=seconds))
            )


def _outcome(hub: Hub, email: str, password: str, client: str) -> str:
    try:
        hub.login(email, password, client=client)
    except AuthenticationError:
        return "401"
    except TooManyAttemptsError as exc:
        return f"429:{exc.retry_after}"
    return "ok"


class TestThrottling:
    def test_backoff_per_account_and_address_grows_and_is_capped(self) -> None:
        """5 free failures, then 1 s, 2 s, 4 s ... after the last one, at most 15 minutes."""
        assert [timedelta(0)] * 5 == [PAIR.wait(n) for n in range(5)]
        assert [1, 2, 4, 8] == [PAIR.wait(n).total_seconds() for n in range(5, 9)]
        assert timedelta(minutes=15) == PAIR.wait(15) == PAIR.wait(10_000)

    def test_five_failures_then_429_with_retry_after_not_a_lock(self, web_hub: Hub) -> None:
        """The sixth try from the same address waits 1 s (429 with the seconds); once it has
        waited, the right password gets in, and the failures are cleared."""
        _add(web_hub)
        outcomes = [_outcome(web_hub, "ana@team.example.org", "wrong guess!", "198.51.100.7")]
        outcomes += [
            _outcome(web_hub, "ana@team.example.org", "wrong guess!", "198.51.100.7")
            for _ in range(5)
        ]
        assert ["401"] * 5 + ["429:1"] == outcomes
        _backdate(web_hub, 1.5)
        assert "ok" == _outcome(web_hub, "ana@team.example.org", PASSWORD, "198.51.100.7")
        assert "401" == _outcome(web_hub, "ana@team.example.org", "wrong guess!", "198.51.100.7")

    def test_the_wait_doubles_with_each_failure(self, web_hub: Hub) -> None:
        """Nine failures (each after the wait before it): the tenth try waits 2^4 = 16 s."""
        _add(web_hub)
        outcomes = []
        for _ in range(9):
            _backdate(web_hub, 3600)  # the last wait is over; still within the 24 hours
            outcomes.append(
                _outcome(web_hub, "ana@team.example.org", "wrong guess!", "198.51.100.7")
            )
        assert ["401"] * 9 == outcomes
        assert "429:16" == _outcome(web_hub, "ana@team.example.org", "wrong guess!", "198.51.100.7")

    def test_the_right_password_from_another_address_is_not_locked_out(self, web_hub: Hub) -> None:
        """An attacker hammering an admin's account from one address cannot keep the admin
        (at another address) out: the weapon the old per-account lock was."""
        _add(web_hub, email="boss@team.example.org", role="admin")
        for _ in range(15):
            _backdate(web_hub, 1000)  # the attacker waits out each backoff: 15 failures
            assert "401" == _outcome(web_hub, "boss@team.example.org", "wrong!!!", "203.0.113.66")
        assert "429:900" == _outcome(web_hub, "boss@team.example.org", PASSWORD, "203.0.113.66")
        assert "ok" == _outcome(web_hub, "boss@team.example.org", PASSWORD, "192.0.2.10")

    def test_an_account_under_attack_from_many_addresses_gives_each_one_try(
        self, web_hub: Hub
    ) -> None:
        """Past 10 failures on one account, an address that has failed on it waits; one that
        has not (the owner) still gets in."""
        _add(web_hub)
        outcomes = [
            _outcome(web_hub, "ana@team.example.org", "wrong guess!", f"198.51.100.{i}")
            for i in range(1, 16)
        ]
        assert ["401"] * 15 == outcomes  # one try each: all checked
        again = _outcome(web_hub, "ana@team.example.org", "wrong guess!", "198.51.100.3")
        assert again.startswith("429")
        assert "ok" == _outcome(web_hub, "ana@team.example.org", PASSWORD, "192.0.2.99")

    def test_thirty_accounts_from_one_address_do_not_all_get_through(self, web_hub: Hub) -> None:
        """Spraying one password over 30 accounts: after 10 failures the address waits."""
        for i in range(30):
            _add(web_hub, email=f"u{i}@team.example.org")
        outcomes = [
            _outcome(web_hub, f"u{i}@team.example.org", "Summer2026!", "203.0.113.9")
            for i in range(30)
        ]
        assert ["401"] * 10 == outcomes[:10]
        assert outcomes[10].startswith("429:")
        # The waits (1 s, 2 s, ...) may end while the rest are tried, letting one or two by.
        assert outcomes.count("401") <= 12, outcomes
        # Another address is not affected.
        assert "ok" == _outcome(web_hub, "u29@team.example.org", PASSWORD, "192.0.2.1")

    def test_ipv6_addresses_count_by_their_64_network(self, web_hub: Hub) -> None:
        _add(web_hub)
        for i in range(5):
            _outcome(web_hub, "ana@team.example.org", "wrong guess!", f"2001:db8:1:2::{i + 1}")
        assert _outcome(
            web_hub, "ana@team.example.org", PASSWORD, "2001:db8:1:2:ffff::9"
        ).startswith("429")
        assert "ok" == _outcome(web_hub, "ana@team.example.org", PASSWORD, "2001:db8:1:3::1")
        assert "2001:db8:1:2::/64" == address_key("2001:db8:1:2:abcd::1")
        assert "192.0.2.1" == address_key("::ffff:192.0.2.1")

    def test_failures_are_stored_so_another_app_server_sees_them(
        self, web_hub: Hub, web_settings: Settings
    ) -> None:
        """A second Hub (another app server) on the same database throttles the same pair."""
        _add(web_hub)
        for _ in range(PAIR.free):
            with pytest.raises(AuthenticationError):
                web_hub.login("ana@team.example.org", "nope nope", client="198.51.100.7")
        with Hub(web_settings) as other, pytest.raises(TooManyAttemptsError):
            other.login("ana@team.example.org", PASSWORD, client="198.51.100.7")

    def test_failures_older_than_the_window_no_longer_count(self, web_hub: Hub) -> None:
        _add(web_hub)
        for _ in range(PAIR.free + 3):
            _outcome(web_hub, "ana@team.example.org", "nope nope", "198.51.100.7")
        _backdate(web_hub, PAIR.window.total_seconds() + 60)
        assert "ok" == _outcome(web_hub, "ana@team.example.org", PASSWORD, "198.51.100.7")

    def test_unknown_account_fails_like_a_wrong_password(self, web_hub: Hub) -> None:
        """The message does not reveal whether the account exists."""
        _add(web_hub)
        with pytest.raises(AuthenticationError) as unknown:
            web_hub.login("nobody@team.example.org", PASSWORD)
        with pytest.raises(AuthenticationError) as wrong:
            web_hub.login("ana@team.example.org", "wrong password")
        assert str(unknown.value) == str(wrong.value)

    def test_a_disabled_account_does_not_log_in_with_the_right_password(self, web_hub: Hub) -> None:
        uid = _add(web_hub, role="agent")
        _add(web_hub, email="root@team.example.org", role="admin")
        web_hub.disable_user(uid)
        with pytest.raises(AuthenticationError, match="wrong email or password"):
            web_hub.login("ana@team.example.org", PASSWORD)


class TestPasswordCheckOutsideTheWriteLock:
    def test_other_writes_go_on_while_a_login_checks_its_password(
        self, web_hub: Hub, db_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """argon2 runs with no transaction open: SQLite's single write lock is free for others
        meanwhile. (On PostgreSQL writers never queue on one lock, so only SQLite can show it.)"""
        if not db_url.startswith("sqlite"):
            pytest.skip("SQLite's database-wide write lock; PostgreSQL locks rows")
        _add(web_hub)
        entered, release = threading.Event(), threading.Event()
        real_verify = PasswordHasher.verify

        def slow_verify(self: PasswordHasher, hash: str, password: str) -> bool:
            entered.set()
            release.wait(timeout=10)
            return real_verify(self, hash, password)

        monkeypatch.setattr(PasswordHasher, "verify", slow_verify)
        outcome: list[str] = []
        worker = threading.Thread(
            target=lambda: outcome.append(
                _outcome(web_hub, "ana@team.example.org", "wrong guess!", "198.51.100.7")
            )
        )
        worker.start()
        assert entered.wait(timeout=10)
        started = time.monotonic()
        with web_hub.store.write() as conn:  # waits for the lock if the login holds it
            conn.execute(update(users).values(name="Ana"))
        took = time.monotonic() - started
        release.set()
        worker.join(timeout=20)
        assert took < 2, f"a write waited {took:.1f} s for a login's password check"
        assert ["401"] == outcome


class TestSessions:
    def test_login_issues_a_new_session_each_time_stored_hashed(self, web_hub: Hub) -> None:
        """Two logins give two session ids; the database holds neither in clear."""
        _add(web_hub)
        a = web_hub.login("ana@team.example.org", PASSWORD)
        b = web_hub.login("ana@team.example.org", PASSWORD)
        assert a.session_id != b.session_id
        with web_hub.store.read() as conn:
            stored = [r.id_hash for r in conn.execute(select(sessions.c.id_hash))]
        assert len(stored) == 2
        assert a.session_id not in stored and b.session_id not in stored

    def test_logout_ends_the_session(self, web_hub: Hub) -> None:
        _add(web_hub)
        s = web_hub.login("ana@team.example.org", PASSWORD)
        assert web_hub.authenticate_session(s.session_id)[0].email == "ana@team.example.org"
        assert web_hub.logout(s.session_id)
        with pytest.raises(AuthenticationError):
            web_hub.authenticate_session(s.session_id)

    def test_disabling_a_user_ends_their_sessions_and_stops_tokens(self, web_hub: Hub) -> None:
        """Disable: sessions deleted, tokens refused, login refused."""
        uid = _add(web_hub)
        s = web_hub.login("ana@team.example.org", PASSWORD)
        token = web_hub.create_token("ci", user_id=uid).token
        web_hub.disable_user(uid)
        with pytest.raises(AuthenticationError):
            web_hub.authenticate_session(s.session_id)
        with pytest.raises(AuthenticationError, match="disabled"):
            web_hub.authenticate_token(token)
        with pytest.raises(AuthenticationError):
            web_hub.login("ana@team.example.org", PASSWORD)

    def test_expired_session_is_refused(self, web_hub: Hub) -> None:
        _add(web_hub)
        s = web_hub.login("ana@team.example.org", PASSWORD)
        with web_hub.store.write() as conn:
            conn.execute(update(sessions).values(expires_at=datetime.now(UTC) - timedelta(1)))
        with pytest.raises(AuthenticationError, match="expired"):
            web_hub.authenticate_session(s.session_id)

    def test_new_password_ends_sessions(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        s = web_hub.login("ana@team.example.org", PASSWORD)
        web_hub.set_password(uid, "another good one")
        with pytest.raises(AuthenticationError):
            web_hub.authenticate_session(s.session_id)
        assert web_hub.login("ana@team.example.org", "another good one")

    def test_last_admin_cannot_be_disabled(self, web_hub: Hub) -> None:
        uid = _add(web_hub, role="admin")
        with pytest.raises(StateError, match="last active admin"):
            web_hub.disable_user(uid)


class TestPasswordChange:
    def test_own_change_needs_the_current_password(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        ana = web_hub.for_user(web_hub.get_user(uid))
        with pytest.raises(ValidationError, match="current password") as missing:
            ana.set_password(uid, "violet tractor 93")
        assert "current_password" == missing.value.field
        with pytest.raises(PermissionDeniedError) as wrong:
            ana.set_password(uid, "violet tractor 93", current_password="not my password")
        assert ("wrong_password", "current_password") == (wrong.value.code, wrong.value.field)
        assert web_hub.login("ana@team.example.org", PASSWORD)
        changed = ana.set_password(uid, "violet tractor 93", current_password=PASSWORD)
        assert (False, 0) == (changed.reset, changed.tokens_revoked)
        assert web_hub.login("ana@team.example.org", "violet tractor 93")

    def test_wrong_current_passwords_are_throttled_like_logins(self, web_hub: Hub) -> None:
        """A stolen session or token cannot guess the password through the change."""
        uid = _add(web_hub)
        ana = web_hub.for_user(web_hub.get_user(uid))
        for _ in range(PAIR.free):
            with pytest.raises(PermissionDeniedError):
                ana.set_password(
                    uid, "violet tractor 93", current_password="guess!!", client="203.0.113.5"
                )
        with pytest.raises(TooManyAttemptsError):
            ana.set_password(
                uid, "violet tractor 93", current_password=PASSWORD, client="203.0.113.5"
            )

    def test_own_change_ends_the_other_sessions_and_keeps_this_one(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        here = web_hub.login("ana@team.example.org", PASSWORD)
        there = web_hub.login("ana@team.example.org", PASSWORD)
        token = web_hub.create_token("ci", user_id=uid).token
        ana = web_hub.for_user(web_hub.get_user(uid))
        changed = ana.set_password(
            uid, "violet tractor 93", current_password=PASSWORD, keep_session=here.session_id
        )
        assert 1 == changed.sessions_ended
        assert uid == web_hub.authenticate_session(here.session_id)[0].id
        with pytest.raises(AuthenticationError):
            web_hub.authenticate_session(there.session_id)
        assert uid == web_hub.authenticate_token(token).id  # tokens stay unless asked

    def test_revoke_tokens_revokes_every_token_of_the_user(self, web_hub: Hub) -> None:
        uid, other = _add(web_hub), _add(web_hub, email="bo@team.example.org")
        mine = [web_hub.create_token(f"t{i}", user_id=uid).token for i in range(2)]
        theirs = web_hub.create_token("t", user_id=other).token
        ana = web_hub.for_user(web_hub.get_user(uid))
        changed = ana.set_password(
            uid, "violet tractor 93", current_password=PASSWORD, revoke_tokens=True
        )
        assert 2 == changed.tokens_revoked
        for token in mine:
            with pytest.raises(AuthenticationError, match="revoked"):
                web_hub.authenticate_token(token)
        assert other == web_hub.authenticate_token(theirs).id

    def test_an_admin_resets_another_users_password_audited_as_a_reset(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        boss = web_hub.for_user(web_hub.get_user(_add(web_hub, "boss@team.example.org", "admin")))
        session = web_hub.login("ana@team.example.org", PASSWORD)
        changed = boss.set_password(uid, "violet tractor 93")  # no current password needed
        assert changed.reset and 1 == changed.sessions_ended
        with pytest.raises(AuthenticationError):
            web_hub.authenticate_session(session.session_id)
        with web_hub.store.read() as conn:
            row = conn.execute(
                select(audit_log.c.action, audit_log.c.actor, audit_log.c.note)
                .where(audit_log.c.entity == "user", audit_log.c.entity_id == str(uid))
                .order_by(audit_log.c.id.desc())
            ).first()
        assert row is not None
        assert ("reset_password", "boss@team.example.org") == (row.action, row.actor)
        assert "reset by boss@team.example.org" in row.note

    def test_an_agent_cannot_change_someone_elses_password(self, web_hub: Hub) -> None:
        uid, other = _add(web_hub), _add(web_hub, email="bo@team.example.org")
        ana = web_hub.for_user(web_hub.get_user(uid))
        with pytest.raises(PermissionDeniedError):
            ana.set_password(other, "violet tractor 93", current_password=PASSWORD)

    def test_an_own_change_is_audited_without_the_password(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        ana = web_hub.for_user(web_hub.get_user(uid))
        ana.set_password(uid, "violet tractor 93", current_password=PASSWORD)
        with web_hub.store.read() as conn:
            rows = conn.execute(select(audit_log).where(audit_log.c.entity == "user")).all()
        assert "change_password" == rows[-1].action
        assert "violet" not in repr(rows) and PASSWORD not in repr(rows)


class TestIdleSessions:
    def _seen(self, hub: Hub, minutes_ago: float) -> None:
        with hub.store.write() as conn:
            conn.execute(
                update(sessions).values(
                    last_seen_at=datetime.now(UTC) - timedelta(minutes=minutes_ago)
                )
            )

    def _seen_shift(self, hub: Hub, minutes: float) -> None:
        with hub.store.write() as conn:
            for row in conn.execute(select(sessions.c.id_hash, sessions.c.last_seen_at)).all():
                seen = (
                    row.last_seen_at.replace(tzinfo=UTC)
                    if row.last_seen_at.tzinfo is None
                    else row.last_seen_at
                )
                conn.execute(
                    update(sessions)
                    .where(sessions.c.id_hash == row.id_hash)
                    .values(last_seen_at=seen - timedelta(minutes=minutes))
                )

    def test_a_session_unused_for_the_idle_time_ends(self, web_hub: Hub) -> None:
        _add(web_hub)
        s = web_hub.login("ana@team.example.org", PASSWORD)
        self._seen(web_hub, web_hub.settings.session_idle_minutes + 1)
        with pytest.raises(AuthenticationError, match="without use"):
            web_hub.authenticate_session(s.session_id)

    def test_using_a_session_keeps_it_alive(self, web_hub: Hub) -> None:
        _add(web_hub)
        s = web_hub.login("ana@team.example.org", PASSWORD)
        self._seen(web_hub, web_hub.settings.session_idle_minutes - 5)
        web_hub.authenticate_session(s.session_id)  # a request: last seen now
        self._seen_shift(web_hub, 10)  # ten minutes later: 10 since the request, not 65
        assert web_hub.authenticate_session(s.session_id)[0].email == "ana@team.example.org"

    def test_last_seen_is_written_at_most_once_a_minute(self, web_hub: Hub) -> None:
        """Requests within a minute of each other write nothing (no write per request)."""
        _add(web_hub)
        s = web_hub.login("ana@team.example.org", PASSWORD)
        with web_hub.store.read() as conn:
            first = conn.execute(select(sessions.c.last_seen_at)).scalar_one()
        for _ in range(5):
            web_hub.authenticate_session(s.session_id)
        with web_hub.store.read() as conn:
            assert first == conn.execute(select(sessions.c.last_seen_at)).scalar_one()
        self._seen(web_hub, 2)
        web_hub.authenticate_session(s.session_id)
        with web_hub.store.read() as conn:
            seen = conn.execute(select(sessions.c.last_seen_at)).scalar_one()
        seen = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
        assert datetime.now(UTC) - seen < timedelta(seconds=30)


class TestTokens:
    def test_token_is_stored_hashed_and_works(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        new = web_hub.create_token("ci", user_id=uid)
        with web_hub.store.read() as conn:
            hashes = [r.token_hash for r in conn.execute(select(api_tokens.c.token_hash))]
        assert new.token not in hashes and len(hashes) == 1
        assert uid == web_hub.authenticate_token(new.token).id

    def test_revoked_token_is_refused(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        new = web_hub.create_token("ci", user_id=uid)
        web_hub.revoke_token(new.id)
        with pytest.raises(AuthenticationError, match="revoked"):
            web_hub.authenticate_token(new.token)

    def test_expired_token_is_refused(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        new = web_hub.create_token(
            "ci", user_id=uid, expires_at=datetime.now(UTC) + timedelta(hours=1)
        )
        with web_hub.store.write() as conn:
            conn.execute(update(api_tokens).values(expires_at=datetime.now(UTC) - timedelta(1)))
        with pytest.raises(AuthenticationError, match="expired"):
            web_hub.authenticate_token(new.token)

    def test_expiry_in_the_past_is_refused(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        with pytest.raises(ValidationError, match="future"):
            web_hub.create_token("ci", user_id=uid, expires_at=datetime.now(UTC) - timedelta(1))

    def test_agent_cannot_revoke_someone_elses_token(self, web_hub: Hub) -> None:
        """Another user's token looks missing to a non-admin, and stays valid."""
        ana, bo = _add(web_hub), _add(web_hub, email="bo@team.example.org")
        token = web_hub.create_token("ci", user_id=bo)
        as_ana = web_hub.for_user(web_hub.get_user(ana))
        with pytest.raises(Exception, match="no API token"):
            as_ana.revoke_token(token.id)
        assert bo == web_hub.authenticate_token(token.token).id

    def test_user_changes_are_audited_without_secrets(self, web_hub: Hub) -> None:
        """Creating users and tokens writes audit entries that hold no hash or secret."""
        uid = _add(web_hub)
        token = web_hub.create_token("ci", user_id=uid)
        with web_hub.store.read() as conn:
            rows = conn.execute(select(audit_log.c.entity, audit_log.c.after)).all()
            assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 2
        dumped = repr(rows)
        assert {"user", "api_token"} == {r.entity for r in rows}
        assert token.token not in dumped and "argon2" not in dumped


class TestRoles:
    def test_agent_cannot_list_or_add_users(self, web_hub: Hub) -> None:
        uid = _add(web_hub)
        agent = web_hub.for_user(web_hub.get_user(uid))
        with pytest.raises(PermissionDeniedError):
            agent.list_users()
        with pytest.raises(PermissionDeniedError):
            agent.add_user(UserCreate(email="x@y.pt", password=PASSWORD))

    def test_first_admin_is_created_once(self, web_hub: Hub) -> None:
        assert web_hub.create_first_admin("root@team.example.org", PASSWORD) is not None
        assert web_hub.create_first_admin("other@team.example.org", PASSWORD) is None
        assert [u.email for u in web_hub.list_users()] == ["root@team.example.org"]
