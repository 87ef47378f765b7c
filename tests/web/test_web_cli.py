"""The users and token commands, init's first admin, and serve's options."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from customer_flow.cli.main import app
from customer_flow.core.config import Settings
from customer_flow.core.errors import AuthenticationError
from customer_flow.hub import Hub

runner = CliRunner()


def _run(db_url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    full_env = {
        "CUSTOMER_FLOW_PASSWORD_MEMORY_KIB": "19456",
        "CUSTOMER_FLOW_PASSWORD_TIME_COST": "2",
        **(env or {}),
    }
    r = runner.invoke(app, ["--db", db_url, *args], env=full_env)
    return r.exit_code, r.stdout, r.stderr


class TestUsersCli:
    def test_init_creates_the_first_admin_non_interactively(self, db_url: str) -> None:
        code, _, err = _run(
            db_url,
            "init",
            "--admin-email",
            "root@team.example.org",
            env={"CUSTOMER_FLOW_ADMIN_PASSWORD": "first key holder"},
        )
        assert code == 0 and "first admin created" in err
        code, _, err = _run(
            db_url, "init", "--admin-email", "x@team.example.org", "--admin-password", "another one"
        )
        assert code == 0 and "no admin created" in err
        code, out, _ = _run(db_url, "users", "list", "--json")
        assert [(u["email"], u["role"]) for u in json.loads(out)] == [
            ("root@team.example.org", "admin")
        ]

    def test_add_list_disable_and_set_password(self, db_url: str) -> None:
        code, out, _ = _run(
            db_url,
            "users",
            "add",
            "ana@team.example.org",
            "--role",
            "viewer",
            "--password",
            "viewer secret",
            "--json",
        )
        assert code == 0 and json.loads(out)["role"] == "viewer"
        code, _, err = _run(
            db_url, "users", "set-password", "ana@team.example.org", "--password", "short"
        )
        assert code == 1 and "at least 8" in err
        code, _, _ = _run(
            db_url,
            "users",
            "set-password",
            "ana@team.example.org",
            env={"CUSTOMER_FLOW_PASSWORD": "a new password"},
        )
        assert code == 0
        settings = Settings(database_url=db_url, password_memory_kib=19456, password_time_cost=2)
        with Hub(settings) as hub:
            assert hub.login("ana@team.example.org", "a new password")
        code, out, _ = _run(db_url, "users", "disable", "ana@team.example.org", "--json")
        assert code == 0 and json.loads(out)["active"] is False
        code, _, err = _run(db_url, "users", "disable", "nobody@team.example.org")
        assert code == 1 and "no user" in err

    def test_set_role_and_the_last_admin_keeps_theirs(self, db_url: str) -> None:
        """users set-role changes a role; an unknown role or the last admin is one line."""
        for email, role in (("boss@team.example.org", "admin"), ("ana@team.example.org", "agent")):
            _run(db_url, "users", "add", email, "--role", role, "--password", "role test pass")
        code, out, _ = _run(db_url, "users", "set-role", "ana@team.example.org", "viewer", "--json")
        assert code == 0 and json.loads(out)["role"] == "viewer"
        code, _, err = _run(db_url, "users", "set-role", "boss@team.example.org", "agent")
        assert code == 1 and "last active admin" in err
        code, _, err = _run(db_url, "users", "set-role", "ana@team.example.org", "boss")
        assert code == 1 and "unknown role 'boss'" in err

    def test_bad_role_and_missing_password_are_usage_errors(self, db_url: str) -> None:
        code, _, err = _run(
            db_url,
            "users",
            "add",
            "x@team.example.org",
            "--role",
            "boss",
            "--password",
            "long enough",
        )
        assert code == 1 and "role" in err
        code, _, err = _run(db_url, "users", "add", "x@team.example.org")
        assert code == 2 and "--password" in err

    def test_token_create_list_and_revoke(self, db_url: str) -> None:
        _run(db_url, "users", "add", "ci@team.example.org", "--password", "ci password")
        code, out, err = _run(
            db_url,
            "users",
            "token",
            "create",
            "ci@team.example.org",
            "--name",
            "deploy",
            "--expires-days",
            "30",
        )
        token = out.strip()
        assert code == 0 and token.startswith("cf_") and "shown only now" in err
        settings = Settings(database_url=db_url)
        with Hub(settings) as hub:
            assert hub.authenticate_token(token).email == "ci@team.example.org"
        code, out, _ = _run(db_url, "users", "token", "list", "--json")
        listed = json.loads(out)
        assert len(listed) == 1 and token not in out and listed[0]["expires_at"]
        code, _, err = _run(db_url, "users", "token", "revoke", str(listed[0]["id"]))
        assert code == 0 and "revoked" in err
        code, _, err = _run(db_url, "users", "token", "revoke", str(listed[0]["id"]))
        assert code == 1 and "already revoked" in err

    def test_set_password_revoke_tokens(self, db_url: str) -> None:
        """`set-password --revoke-tokens` revokes the user's tokens; without it they stay."""
        _run(db_url, "users", "add", "ana@team.example.org", "--password", "first of many")
        first = _run(db_url, "users", "token", "create", "ana@team.example.org", "--name", "a")[1]
        code, _, err = _run(
            db_url, "users", "set-password", "ana@team.example.org", "--password", "2nd go at it"
        )
        assert code == 0 and "0 session(s) ended" in err
        settings = Settings(database_url=db_url)
        with Hub(settings) as hub:
            assert hub.authenticate_token(first.strip()).email == "ana@team.example.org"
        code, _, err = _run(
            db_url,
            "users",
            "set-password",
            "ana@team.example.org",
            "--password",
            "third go at it",
            "--revoke-tokens",
        )
        assert code == 0 and "1 API token(s) revoked" in err
        with Hub(settings) as hub, pytest.raises(AuthenticationError, match="revoked"):
            hub.authenticate_token(first.strip())

    def test_set_password_refuses_a_common_one(self, db_url: str) -> None:
        _run(db_url, "users", "add", "ana@team.example.org", "--password", "first of many")
        code, _, err = _run(
            db_url, "users", "set-password", "ana@team.example.org", "--password", "iloveyou"
        )
        assert code == 1 and err.startswith("error: password: too easy to guess")


class TestServeCli:
    def test_serve_defaults_to_loopback_port_8000(self) -> None:
        r = runner.invoke(app, ["serve", "--help"])
        assert r.exit_code == 0
        assert "127.0.0.1" in r.stdout and "8000" in r.stdout and "--host" in r.stdout
