"""Settings: one object, read once at the edge (CLI flags, environment, defaults).

Environment variables are ``CUSTOMER_FLOW_*``; a CLI flag overrides them. Domain modules never
read the environment: they are handed the values they need.
"""

from __future__ import annotations

import getpass
import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "default_database_url", "normalise_database_url"]

APP_NAME = "customer-flow"


def default_database_url() -> str:
    """The embedded default: a SQLite file in the user's data directory."""
    return f"sqlite:///{Path(user_data_dir(APP_NAME)) / 'customer_flow.db'}"


def normalise_database_url(value: str) -> str:
    """Accept a SQLAlchemy URL, a ``postgresql://`` URL or a plain SQLite file path.

    PostgreSQL URLs are pointed at psycopg 3, whatever driver they name or leave out.
    """
    value = value.strip()
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser().resolve()}"
    scheme, rest = value.split("://", 1)
    if scheme in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    return value


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers, some CI): still record something honest
        return "unknown"


class Settings(BaseSettings):
    """Every setting Customer_Flow reads, with its default."""

    model_config = SettingsConfigDict(env_prefix="CUSTOMER_FLOW_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    ticket_types_file: Path | None = None
    default_region: str = "US"
    actor: str = Field(default_factory=_default_actor)
    secret_key: str | None = None
    # -- web (issue 5) --
    #: How long a login session lasts, in hours, however busy.
    session_hours: float = Field(default=12.0, gt=0)
    #: A session ends after this many minutes without a request.
    session_idle_minutes: float = Field(default=60.0, gt=0)
    #: argon2id parameters; below m = 19456 KiB or t = 2 they are refused.
    password_memory_kib: int = 65536
    password_time_cost: int = 3
    #: Mark cookies Secure (and name the session cookie ``__Host-cf_session``). ``None``: when
    #: the request came over https.
    cookie_secure: bool | None = None
    #: ``Strict-Transport-Security: max-age=...`` on responses over https; 0 sends none (say,
    #: when the proxy in front sets it).
    hsts_seconds: int = Field(default=365 * 24 * 3600, ge=0)
    #: Addresses or networks of the reverse proxies in front of the app, comma-separated
    #: (``10.0.0.5, 10.1.0.0/16``). Only requests from them may name the client's address and
    #: scheme (``X-Forwarded-For``, ``X-Forwarded-Proto``); by default nobody may.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: The largest request body the web app accepts, in bytes (uploads included).
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    #: Where the web app stages uploads between preview and import, and keeps the rejects
    #: files of its imports. ``None``: ``imports/<hash of the database URL>`` in the user data
    #: folder. Created with mode 0700; the files in it are 0600. The worker reads the staged
    #: uploads from here: with several app servers or workers it must be one shared folder
    #: (a network mount) at the same path on each of them.
    import_dir: Path | None = None
    #: The most rows (records, blank ones included) an import preview or import in the web app
    #: reads; past it the answer is 413, "use the CLI or split the file". It bounds the CPU one
    #: request can take (a 100,000-row preview takes seconds; 2,000,000 rows took minutes).
    web_import_max_rows: int = Field(default=100_000, ge=1)
    #: The same limit for an import started from the import page, which runs as a job on the
    #: worker (the request answers at once): it bounds one job's time, not a request's.
    import_job_max_rows: int = Field(default=2_000_000, ge=1)

    # -- tickets: the SLA policy (see sla.py) ----------------------------------------------------
    #: A JSON business calendar (time zone, working hours, holidays); None means 24×7 UTC.
    calendar_file: Path | None = None
    #: Multiplier of a type's SLA targets per priority, e.g. {"urgent": 0.5}; missing means 1.
    sla_priority_factors: dict[str, float] = Field(default_factory=dict)
    #: Share of a target that, once used, makes it "at risk".
    sla_at_risk_share: float = 0.75

    # -- mail (issue 18) ---------------------------------------------------------------------------
    #: The largest message a fetch reads whole, in bytes; a larger one opens its ticket from the
    #: headers alone and says so (the message stays in the mailbox).
    mail_max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    #: Attachments kept per message, and the largest file kept, in bytes; the others are
    #: named on the ticket as not kept (the message stays in the mailbox).
    mail_max_attachments: int = Field(default=50, ge=0)
    mail_max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    #: Where attachments are kept (content-addressed, SHA-256). ``None``: ``attachments/`` in
    #: the database's data folder.
    attachment_dir: Path | None = None
    #: A folder of mail templates that replace the shipped ones of the same name
    #: (``reply.txt``, ``reply.html``: Jinja2, see ``mail/templates/``).
    mail_template_dir: Path | None = None
    #: The name replies are signed with and sent from.
    mail_team_name: str = "Customer_Flow support"
    #: The most messages one fetch reads per mailbox (the next fetch goes on from there).
    mail_fetch_batch: int = Field(default=200, ge=1)
    #: Messages one sender may turn into tickets or comments per hour; past it they are kept
    #: and reported, not opened.
    mail_sender_hourly_limit: int = Field(default=20, ge=1)
    #: Sending attempts before a message fails for good (4xx answers and lost connections).
    mail_send_attempts: int = Field(default=8, ge=1)
    #: The worker's queue (huey): ``None`` stores it in SQLite under the data folder
    #: (``queue.db`` beside the database's import folder), ``sqlite:///path/queue.db`` in that
    #: file, ``redis://host:6379/0`` in Redis (a team server).
    queue_url: str | None = None
    #: How often the worker fetches mail and sends the outbox, in minutes.
    mail_poll_minutes: int = Field(default=1, ge=1, le=59)
    #: A failed job is tried again this many times, this many seconds apart, then kept for
    #: admins to see (``customer-flow worker failures``).
    job_retries: int = Field(default=3, ge=0)
    job_retry_delay: int = Field(default=30, ge=0)
    #: On a Redis queue, how long a worker that stopped saying it is alive keeps its job before
    #: another worker takes it again, in seconds (a worker says so every third of it).
    job_lease_seconds: int = Field(default=60, ge=3)

    # -- past one machine (issue 20) ---------------------------------------------------------------
    #: The Spark master ``duplicates find --engine spark`` runs on (``local[*]``: this machine's
    #: cores; ``spark://host:7077``, ``yarn``, ``k8s://...`` a cluster). ``--spark-master``
    #: overrides it.
    spark_master: str = "local[*]"
    #: Spark settings for that session, as JSON (``{"spark.executor.memory": "8g"}``) or
    #: ``key=value`` pairs separated by commas or new lines. ``SPARK_HOME``, ``JAVA_HOME`` and
    #: ``PYSPARK_PYTHON`` are read by Spark itself, as usual.
    spark_conf: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for item in value:
                try:
                    ipaddress.ip_network(str(item), strict=False)
                except ValueError:
                    raise ValueError(
                        f"trusted_proxies: {item!r} is not an IP address or network"
                    ) from None
        return value

    @field_validator("spark_conf", mode="before")
    @classmethod
    def _spark_conf(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                try:
                    value = json.loads(text)
                except ValueError as exc:
                    raise ValueError(f"spark_conf: not valid JSON ({exc})") from None
            else:
                pairs: dict[str, str] = {}
                for part in re.split(r"[,\n]", text):
                    if not part.strip():
                        continue
                    key, sep, val = part.partition("=")
                    if not sep or not key.strip():
                        raise ValueError(f"spark_conf: expected key=value, got {part.strip()!r}")
                    pairs[key.strip()] = val.strip()
                value = pairs
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    def resolved_database_url(self) -> str:
        return normalise_database_url(self.database_url)

    def data_dir(self) -> Path:
        """The folder of this database's files (its worker queue): one per database."""
        key = hashlib.sha256(self.resolved_database_url().encode()).hexdigest()[:16]
        return Path(user_data_dir(APP_NAME)) / "data" / key

    def resolved_attachment_dir(self) -> Path:
        if self.attachment_dir is not None:
            return Path(self.attachment_dir).expanduser()
        return self.data_dir() / "attachments"

    def resolved_import_dir(self) -> Path:
        """``import_dir``, or the default: one folder per database in the user data folder, so
        that two databases never share import batch folders."""
        if self.import_dir is not None:
            return Path(self.import_dir).expanduser()
        key = hashlib.sha256(self.resolved_database_url().encode()).hexdigest()[:16]
        return Path(user_data_dir(APP_NAME)) / "imports" / key
