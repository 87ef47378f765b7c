"""Users, login sessions and API tokens: the rules and their storage.

Every function works on a connection inside the caller's transaction (the Hub owns it).
Passwords (rules and hashing) are ``passwords.py``; login throttling is ``throttle.py``. The
Hub checks a password outside any write transaction (argon2 takes a while on purpose), then
records the outcome here in a short one.

- Sessions and tokens are random 256-bit secrets; only their SHA-256 is stored, so a copy of
  the database does not let anyone log in. A session ends at its absolute expiry, or after an
  idle time without a request (its ``last_seen_at`` is kept to the minute, so a request does
  not write every time). Logging out deletes the session; disabling a user deletes all their
  sessions, and their tokens stop working while they are disabled.
- A password change ends the user's other sessions (all of them for an admin's reset of
  someone else's password) and, when asked, revokes their API tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, delete, func, insert, or_, select, update

from customer_flow.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    StateError,
    ValidationError,
)
from customer_flow.store import audit
from customer_flow.store.schema import api_tokens, sessions, users
from customer_flow.users.models import (
    ApiToken,
    LoginSession,
    NewApiToken,
    PasswordChange,
    User,
    UserCreate,
)
from customer_flow.users.passwords import (
    MIN_MEMORY_KIB,
    MIN_PASSWORD,
    MIN_TIME_COST,
    Passwords,
    check_password_rule,
)

__all__ = [
    "BAD_LOGIN",
    "MIN_MEMORY_KIB",
    "MIN_PASSWORD",
    "MIN_TIME_COST",
    "SESSION_TOUCH",
    "Credentials",
    "Passwords",
    "authenticate_session",
    "authenticate_token",
    "check_password_rule",
    "create",
    "create_token",
    "credentials",
    "disable",
    "end_session",
    "get",
    "list_tokens",
    "list_users",
    "login_key",
    "open_session",
    "revoke_token",
    "set_password",
    "set_role",
    "touch_session",
]

ENTITY = "user"
TOKEN_PREFIX = "cf_"
#: Wrong email or wrong password: one message, so the answer does not tell which accounts exist.
BAD_LOGIN = "wrong email or password"
#: A session's ``last_seen_at`` is written at most this often.
SESSION_TOUCH = timedelta(minutes=1)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def clean_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationError(f"email: {exc}", field="email", code="email_invalid") from exc


def login_key(email: str) -> str:
    """What a login names an account by: the email, trimmed and lower-cased."""
    return email.strip().lower()[:320]


def _to_user(row: Any) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        email=m["email"],
        name=m["name"],
        role=m["role"],
        active=m["active"],
        created_at=audit.aware(m["created_at"]),
        updated_at=audit.aware(m["updated_at"]),
        time_zone=m.get("time_zone"),
    )


def _snapshot(user: User) -> dict[str, Any]:
    return user.model_dump(mode="json", exclude={"created_at", "updated_at"})


# -- users ---------------------------------------------------------------------------------


def create(conn: Connection, new: UserCreate, *, password_hash: str, actor: str) -> User:
    """Add a user; the email is unique, ignoring case. The caller has checked the password
    (``check_new_user``) and hashed it."""
    email = clean_email(new.email)
    key = email.lower()
    if conn.execute(select(users.c.id).where(users.c.email_key == key)).first():
        raise ConflictError(
            f"email: a user with {email} already exists", field="email", code="user_exists"
        )
    stamp = audit.now()
    user_id = conn.execute(
        insert(users)
        .values(
            email=email,
            email_key=key,
            name=" ".join(new.name.split()),
            role=new.role,
            password_hash=password_hash,
            active=True,
            created_at=stamp,
            updated_at=stamp,
        )
        .returning(users.c.id)
    ).scalar_one()
    user = get(conn, user_id)
    audit.record(
        conn,
        actor=actor,
        action="create",
        entity=ENTITY,
        entity_id=user.id,
        before=None,
        after=_snapshot(user),
        at=stamp,
    )
    return user


def get(conn: Connection, user_id: int) -> User:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFoundError(f"no user with ID {user_id}", field="id", code="user_not_found")
    return _to_user(row)


def find_by_email(conn: Connection, email: str) -> User:
    row = conn.execute(select(users).where(users.c.email_key == email.strip().lower())).first()
    if row is None:
        raise NotFoundError(f"no user with email {email}", field="email", code="user_not_found")
    return _to_user(row)


def list_users(conn: Connection) -> list[User]:
    return [_to_user(r) for r in conn.execute(select(users).order_by(users.c.id))]


def count_admins(conn: Connection) -> int:
    stmt = select(func.count()).where(users.c.role == "admin", users.c.active.is_(True))
    return int(conn.execute(stmt).scalar_one())


def _change(conn: Connection, before: User, action: str, *, actor: str, **values: Any) -> User:
    """Write ``values`` to the user ``before`` is, and audit the change (both snapshots) as
    ``action``; the user after it."""
    stamp = audit.now()
    conn.execute(update(users).where(users.c.id == before.id).values(**values, updated_at=stamp))
    after = get(conn, before.id)
    audit.record(
        conn,
        actor=actor,
        action=action,
        entity=ENTITY,
        entity_id=before.id,
        before=_snapshot(before),
        after=_snapshot(after),
        at=stamp,
    )
    return after


def disable(conn: Connection, user_id: int, *, actor: str) -> User:
    """Disable a login: its sessions end at once and its tokens stop working."""
    before = get(conn, user_id)
    if not before.active:
        raise StateError(f"user {user_id} is already disabled", code="user_disabled")
    if before.role == "admin" and count_admins(conn) <= 1:
        raise StateError("cannot disable the last active admin", code="last_admin")
    conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
    return _change(conn, before, "disable", actor=actor, active=False)


def set_role(conn: Connection, user_id: int, role: str, *, actor: str) -> User:
    """Change a user's role; the last active admin keeps theirs."""
    before = get(conn, user_id)
    if role not in ("admin", "agent", "viewer"):
        raise ValidationError(
            f"role: unknown role {role!r}; use admin, agent or viewer", field="role"
        )
    if before.role == role:
        return before
    if before.role == "admin" and before.active and count_admins(conn) <= 1:
        raise StateError("cannot change the role of the last active admin", code="last_admin")
    return _change(conn, before, "set_role", actor=actor, role=role)


def check_time_zone(name: str) -> str:
    """An IANA time zone name the system knows (``Europe/Lisbon``, ``UTC``), trimmed; any
    other is refused with the reason."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = name.strip()
    if not text or len(text) > 64:
        raise ValidationError(
            "time_zone: give an IANA time zone name such as Europe/Lisbon or UTC",
            field="time_zone",
            code="time_zone_unknown",
        )
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"time_zone: no time zone named {text!r}; use an IANA name such as "
            "Europe/Lisbon, America/New_York or UTC",
            field="time_zone",
            code="time_zone_unknown",
        ) from None
    return text


def set_time_zone(
    conn: Connection, user_id: int, name: str | None, *, actor: str, only_if_unset: bool = False
) -> User:
    """Set the time zone pages show a user's times in (None: back to UTC). With
    ``only_if_unset`` (the browser's guess), a zone the user chose stays."""
    before = get(conn, user_id)
    zone = check_time_zone(name) if name is not None else None
    if before.time_zone == zone or (only_if_unset and before.time_zone is not None):
        return before
    return _change(conn, before, "set_time_zone", actor=actor, time_zone=zone)


def check_new_user(new: UserCreate) -> str:
    """Check a new user's email and password before the password is hashed; the clean email."""
    email = clean_email(new.email)
    check_password_rule(new.password, email=email)
    return email


def set_password(
    conn: Connection,
    user_id: int,
    password_hash: str,
    *,
    reset: bool,
    keep_session: str | None = None,
    revoke_tokens: bool = False,
    actor: str,
) -> PasswordChange:
    """Store a new password (hashed by the caller). The user's sessions end, but for
    ``keep_session`` (the one making the change); with ``revoke_tokens`` their API tokens are
    revoked too. ``reset``: an admin set another user's password (audited as such)."""
    get(conn, user_id)  # the user exists
    stamp = audit.now()
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, updated_at=stamp)
    )
    ended = conn.execute(
        delete(sessions).where(
            sessions.c.user_id == user_id,
            sessions.c.id_hash != (_sha256(keep_session) if keep_session else ""),
        )
    ).rowcount
    revoked = 0
    if revoke_tokens:
        live = select(api_tokens.c.id).where(
            api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None)
        )
        for token_id in conn.execute(live).scalars().all():
            revoke_token(conn, token_id, actor=actor)
            revoked += 1
    kept = "other " if keep_session else ""
    audit.record(
        conn,
        actor=actor,
        action="reset_password" if reset else "change_password",
        entity=ENTITY,
        entity_id=user_id,
        before=None,
        after=None,
        note=(
            f"password {'reset by ' + actor if reset else 'changed by the user'}; "
            f"{ended} {kept}session(s) ended; {revoked} API token(s) revoked"
        ),
        at=stamp,
    )
    return PasswordChange(
        user=get(conn, user_id), reset=reset, sessions_ended=ended, tokens_revoked=revoked
    )


# -- logins and sessions -------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """What a login checks: the stored hash, and whether the account may log in."""

    user_id: int
    password_hash: str
    active: bool


def credentials(conn: Connection, key: str) -> Credentials | None:
    """The credentials of the account with login key ``key`` (see ``login_key``), if any."""
    row = conn.execute(
        select(users.c.id, users.c.password_hash, users.c.active).where(users.c.email_key == key)
    ).first()
    if row is None:
        return None
    return Credentials(user_id=row.id, password_hash=row.password_hash, active=bool(row.active))


def open_session(
    conn: Connection,
    checked: Credentials,
    *,
    now: datetime,
    ttl: timedelta,
    idle: timedelta,
    new_hash: str | None = None,
) -> LoginSession | None:
    """Open a session for the account whose password was checked against ``checked`` (outside
    this transaction). ``None`` when the account changed since (disabled, or a new password).
    ``new_hash``: the same password hashed with the parameters now in force."""
    row = conn.execute(select(users).where(users.c.id == checked.user_id)).first()
    if row is None or not row.active or row.password_hash != checked.password_hash:
        return None
    user = _to_user(row)
    if new_hash is not None:
        conn.execute(update(users).where(users.c.id == user.id).values(password_hash=new_hash))
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + ttl
    conn.execute(
        insert(sessions).values(
            id_hash=_sha256(session_id),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
            last_seen_at=now,
        )
    )
    # Sessions past their end are deleted now and then (here), so the table stays small.
    conn.execute(
        delete(sessions).where(
            or_(
                sessions.c.expires_at < now,
                func.coalesce(sessions.c.last_seen_at, sessions.c.created_at) < now - idle,
            )
        )
    )
    return LoginSession(session_id=session_id, csrf_token=csrf, user=user, expires_at=expires)


def authenticate_session(
    conn: Connection, session_id: str, *, now: datetime, idle: timedelta
) -> tuple[User, str, datetime]:
    """The user behind a session cookie, the session's CSRF token and when it was last seen."""
    stmt = (
        select(
            users,
            sessions.c.csrf_token,
            sessions.c.expires_at,
            func.coalesce(sessions.c.last_seen_at, sessions.c.created_at).label("seen"),
        )
        .join(sessions, sessions.c.user_id == users.c.id)
        .where(sessions.c.id_hash == _sha256(session_id))
    )
    row = conn.execute(stmt).first()
    if row is None or not row._mapping["active"]:
        raise AuthenticationError("not logged in, or the session has ended", code="no_session")
    if audit.aware(row._mapping["expires_at"]) <= now:  # type: ignore[operator]
        raise AuthenticationError("the session has expired; log in again", code="no_session")
    seen = audit.aware(row._mapping["seen"])
    assert seen is not None
    if seen + idle <= now:
        minutes = round(idle.total_seconds() / 60)
        raise AuthenticationError(
            f"the session has ended after {minutes} minutes without use; log in again",
            code="no_session",
        )
    return _to_user(row), str(row._mapping["csrf_token"]), seen


def touch_session(conn: Connection, session_id: str, now: datetime) -> None:
    """Note that the session was used now (the idle timeout counts from here)."""
    conn.execute(
        update(sessions).where(sessions.c.id_hash == _sha256(session_id)).values(last_seen_at=now)
    )


def end_session(conn: Connection, session_id: str) -> bool:
    """Log out: delete the session. True when there was one."""
    result = conn.execute(delete(sessions).where(sessions.c.id_hash == _sha256(session_id)))
    return bool(result.rowcount)


# -- API tokens ----------------------------------------------------------------------------


def _to_token(row: Any) -> ApiToken:
    m = row._mapping
    return ApiToken(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        prefix=m["prefix"],
        created_at=audit.aware(m["created_at"]),
        expires_at=audit.aware(m["expires_at"]),
        revoked_at=audit.aware(m["revoked_at"]),
    )


def create_token(
    conn: Connection, user_id: int, name: str, expires_at: datetime | None, *, actor: str
) -> NewApiToken:
    """A new Bearer token for ``user_id``; the secret is returned once and stored hashed."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError("name: a token needs a name", field="name", code="name_missing")
    if len(name) > 200:
        raise ValidationError("name: at most 200 characters", field="name", code="too_long")
    stamp = audit.now()
    if expires_at is not None:
        expires_at = audit.aware(expires_at)
        if expires_at <= stamp:  # type: ignore[operator]
            raise ValidationError(
                "expires_at: must be in the future", field="expires_at", code="expiry_in_past"
            )
    user = get(conn, user_id)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = conn.execute(
        insert(api_tokens)
        .values(
            user_id=user.id,
            name=name,
            token_hash=_sha256(secret),
            prefix=secret[:10],
            created_at=stamp,
            expires_at=expires_at,
        )
        .returning(api_tokens.c.id)
    ).scalar_one()
    token = get_token(conn, token_id)
    audit.record(
        conn,
        actor=actor,
        action="create",
        entity="api_token",
        entity_id=token_id,
        before=None,
        after=token.model_dump(mode="json"),
        at=stamp,
    )
    return NewApiToken(**token.model_dump(), token=secret)


def get_token(conn: Connection, token_id: int) -> ApiToken:
    row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise NotFoundError(f"no API token with ID {token_id}", field="id", code="token_not_found")
    return _to_token(row)


def list_tokens(conn: Connection, user_id: int | None) -> list[ApiToken]:
    """Tokens of one user, or of everyone with ``None``."""
    stmt = select(api_tokens).order_by(api_tokens.c.id)
    if user_id is not None:
        stmt = stmt.where(api_tokens.c.user_id == user_id)
    return [_to_token(r) for r in conn.execute(stmt)]


def revoke_token(conn: Connection, token_id: int, *, actor: str) -> ApiToken:
    before = get_token(conn, token_id)
    if before.revoked_at is not None:
        raise StateError(f"API token {token_id} is already revoked", code="token_revoked")
    stamp = audit.now()
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=stamp))
    after = get_token(conn, token_id)
    audit.record(
        conn,
        actor=actor,
        action="revoke",
        entity="api_token",
        entity_id=token_id,
        before=before.model_dump(mode="json"),
        after=after.model_dump(mode="json"),
        at=stamp,
    )
    return after


def authenticate_token(conn: Connection, secret: str) -> User:
    """The user behind a Bearer token; refused if unknown, revoked, expired or disabled."""
    stmt = (
        select(users, api_tokens.c.expires_at, api_tokens.c.revoked_at)
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(api_tokens.c.token_hash == _sha256(secret))
    )
    row = conn.execute(stmt).first()
    if row is None:
        raise AuthenticationError("unknown API token", code="bad_token")
    m = row._mapping
    if m["revoked_at"] is not None:
        raise AuthenticationError("this API token was revoked", code="token_revoked")
    expires = audit.aware(m["expires_at"])
    if expires is not None and expires <= audit.now():
        raise AuthenticationError("this API token has expired", code="token_expired")
    if not m["active"]:
        raise AuthenticationError("this user is disabled", code="user_disabled")
    return _to_user(row)
