"""Settings, read once from the environment into a frozen object."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
DEV_PEPPER = b"kmcbot-dev-pepper"
# The numbered migrations: an installed wheel carries the repository's sql/ as
# kmcbot/migrations (setup.py); a source checkout (an editable install) reads sql/.
_SHIPPED_SQL_DIR = Path(__file__).resolve().parent / "migrations"
SQL_DIR = (
    _SHIPPED_SQL_DIR
    if _SHIPPED_SQL_DIR.is_dir()
    else Path(__file__).resolve().parent.parent / "sql"
)


LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}  # the logging module's


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # None: start an embedded PostgreSQL
    redis_url: str | None = None  # None: start an embedded Redis
    app_secret: bytes | None = None
    verify_token: str | None = None
    wa_token: str | None = None  # None: replies go to the dev outbox
    wa_phone_number_id: str = "dev"
    graph_url: str = DEFAULT_GRAPH_URL
    send_rate: float = 80.0
    admin_token: str | None = None
    id_pepper: bytes = DEV_PEPPER
    dev: bool = False
    log_format: str = "json"
    log_level: str = "info"  # debug, info, warning, error
    data_dir: Path = Path(".kmcbot")
    sql_dir: Path = SQL_DIR
    redis_prefix: str = "kmcbot"
    redis_shards: int = 1  # outbox streams, and hash tags the citizens' keys are spread over
    redis_cluster: bool = False  # redis_url names one node of a Redis Cluster
    run_sender: bool = True  # the outbox sender runs inside the server process
    # Mark inbound messages read (typing indicator when a reply is slow): outbox/receipts.py.
    read_receipts: bool = True
    qr_images: bool = True  # a ticket comes with its check-in QR image
    # Approved WhatsApp templates for news outside the 24-hour window (kmcbot/outbox/relay.py).
    template_booking: str = "kmcbot_booking_update"
    template_slot_cancelled: str = "kmcbot_slot_cancelled"
    template_reminder: str = "kmcbot_reminder"
    template_on_list: str = "kmcbot_on_list"  # the staff console's "we have the list"
    template_waitlist_offer: str = "kmcbot_waitlist_offer"  # a place offered from the waitlist
    # How long a place offered from the waitlist is held (shorter near the session:
    # kmcbot/waitlist/allocate.py).
    offer_hold_s: float = 3600.0
    # The staff console's cookie key (kmcbot/staff/); None outside dev mode is refused.
    staff_secret: bytes | None = None
    reminder_hour: int = 10  # IST hour from which the day-before reminders are queued
    lock_lease_ms: int = 10_000  # how long a message's lock and lease last without a commit
    claim_idle_ms: int = 60_000  # outbox entries read but unsent this long are claimed again
    # PostgreSQL is reached through PgBouncer in transaction pooling mode (storage/postgres.py).
    pgbouncer: bool = False
    body_timeout_s: float = 10.0  # a webhook body must arrive within this (408 otherwise)
    body_budget_mb: int = 32  # webhook bodies being read at once, per process (503 beyond)

    @property
    def log_level_number(self) -> int:
        return LOG_LEVELS[self.log_level]

    @property
    def to_whatsapp(self) -> bool:
        return self.wa_token is not None

    def check_for_serving(self) -> None:
        """Refuse to serve real traffic with settings that would be unsafe."""
        if self.dev:
            return
        if self.app_secret is None:
            raise SettingsError(
                "KMCBOT_APP_SECRET is not set: webhooks could not be verified. "
                "Set it, or set KMCBOT_DEV=1 for a local development run."
            )
        if self.id_pepper == DEV_PEPPER:
            raise SettingsError(
                "KMCBOT_ID_PEPPER is not set: ID numbers would be hashed with a publicly known key."
            )
        if (
            self.wa_token
            and urlsplit(self.graph_url).hostname == "graph.facebook.com"
            and self.wa_phone_number_id == "dev"
        ):
            raise SettingsError(
                "KMCBOT_WA_PHONE_NUMBER_ID is not set: WhatsApp would refuse every reply "
                "sent with KMCBOT_WA_TOKEN. Set it to the sending number's id."
            )
        if self.staff_secret is None:
            raise SettingsError(
                "KMCBOT_STAFF_SECRET is not set: the staff console's cookies could not be "
                "encrypted. Set it to a random text of 32 characters or more."
            )


_ON = {"1", "true", "yes", "on"}
_OFF = {"", "0", "false", "no", "off"}


def _flag(value: str | None, name: str) -> bool:
    """On or off; anything else (KMCBOT_DEV=2, say) is refused, not taken as off."""
    word = (value or "").strip().lower()
    if word not in _ON | _OFF:
        raise SettingsError(f"{name} must be 1 or 0 (or true/false, yes/no, on/off)")
    return word in _ON


def _positive_int(value: str | None, default: int, name: str, low: int = 1) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None
    if number < low:
        raise SettingsError(
            f"{name} must be {low} or more" if low > 1 else f"{name} must be above 0"
        )
    return number


# The schemes asyncpg, redis-py and aiohttp take.
URL_SCHEMES = {
    "KMCBOT_DATABASE_URL": ("postgresql://", "postgres://"),
    "KMCBOT_REDIS_URL": ("redis://", "rediss://", "unix://"),
    "KMCBOT_GRAPH_URL": ("http://", "https://"),
}


def _url(value: str | None, name: str) -> str | None:
    """The URL if its scheme is one the client takes (the message never shows the
    URL itself: it may hold a password)."""
    if value is not None and not value.lower().startswith(URL_SCHEMES[name]):
        raise SettingsError(f"{name} must start with {' or '.join(URL_SCHEMES[name])}")
    return value


def unreachable(service: str, url: str, exc: BaseException) -> SettingsError:
    """PostgreSQL or Redis could not be used at start-up: the error names it, its
    host and port (never the URL's password) and what went wrong."""
    parts = urlsplit(url)
    try:
        place = parts.hostname or parts.path or "localhost"
        place += f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number
        place = parts.hostname or "localhost"
    return SettingsError(f"{service} at {place}: {str(exc) or type(exc).__name__}")


def from_env(env: Mapping[str, str] = os.environ) -> Settings:
    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    def flag(name: str) -> bool:
        return _flag(get(name), name)

    def url(name: str) -> str | None:
        return _url(get(name), name)

    dev = flag("KMCBOT_DEV")
    app_secret = get("KMCBOT_APP_SECRET")
    pepper = get("KMCBOT_ID_PEPPER")
    try:
        send_rate = float(get("KMCBOT_SEND_RATE") or 80)
    except ValueError:
        raise SettingsError("KMCBOT_SEND_RATE must be a number of messages per second") from None
    if not 1 <= send_rate <= 10_000:
        raise SettingsError("KMCBOT_SEND_RATE must be from 1 to 10000 messages per second")
    redis_cluster = flag("KMCBOT_REDIS_CLUSTER")
    if redis_cluster and not (get("KMCBOT_REDIS_URL") or "").startswith(("redis://", "rediss://")):
        raise SettingsError(
            "KMCBOT_REDIS_CLUSTER=1 needs KMCBOT_REDIS_URL set to one node of the cluster, "
            "redis://host:port or rediss://host:port (the embedded Redis is not a cluster)"
        )
    log_format = get("KMCBOT_LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")
    if log_format not in {"json", "console"}:
        raise SettingsError("KMCBOT_LOG_FORMAT must be json or console")
    log_level = (get("KMCBOT_LOG_LEVEL") or "info").lower()
    if log_level not in LOG_LEVELS:
        raise SettingsError("KMCBOT_LOG_LEVEL must be debug, info, warning or error")
    try:
        reminder_hour = int(get("KMCBOT_REMINDER_HOUR") or 10)
    except ValueError:
        raise SettingsError("KMCBOT_REMINDER_HOUR must be an hour of the day, 0-23") from None
    if not 0 <= reminder_hour <= 23:
        raise SettingsError("KMCBOT_REMINDER_HOUR must be an hour of the day, 0-23")
    try:
        body_timeout_s = float(get("KMCBOT_BODY_TIMEOUT_S") or Settings.body_timeout_s)
    except ValueError:
        body_timeout_s = 0
    if not 0.1 <= body_timeout_s <= 300:
        raise SettingsError("KMCBOT_BODY_TIMEOUT_S must be a number of seconds from 0.1 to 300")
    try:
        offer_hold_s = float(get("KMCBOT_OFFER_HOLD") or Settings.offer_hold_s)
    except ValueError:
        offer_hold_s = 0
    if not 1 <= offer_hold_s <= 86_400:
        raise SettingsError("KMCBOT_OFFER_HOLD must be a number of seconds from 1 to 86400")
    graph_url = url("KMCBOT_GRAPH_URL") or DEFAULT_GRAPH_URL
    staff_secret = get("KMCBOT_STAFF_SECRET")
    if staff_secret is not None and len(staff_secret) < 32:
        raise SettingsError("KMCBOT_STAFF_SECRET must be 32 characters or more")
    return Settings(
        database_url=url("KMCBOT_DATABASE_URL"),
        redis_url=url("KMCBOT_REDIS_URL"),
        app_secret=app_secret.encode() if app_secret else None,
        verify_token=get("KMCBOT_VERIFY_TOKEN"),
        wa_token=get("KMCBOT_WA_TOKEN"),
        wa_phone_number_id=get("KMCBOT_WA_PHONE_NUMBER_ID") or "dev",
        graph_url=graph_url.rstrip("/"),
        send_rate=send_rate,
        admin_token=get("KMCBOT_ADMIN_TOKEN"),
        id_pepper=pepper.encode() if pepper else DEV_PEPPER,
        dev=dev,
        log_format=log_format,
        log_level=log_level,
        data_dir=Path(get("KMCBOT_DATA_DIR") or ".kmcbot"),
        sql_dir=Path(get("KMCBOT_SQL_DIR") or SQL_DIR),
        redis_prefix=get("KMCBOT_REDIS_PREFIX") or "kmcbot",
        redis_shards=_positive_int(get("KMCBOT_REDIS_SHARDS"), 1, "KMCBOT_REDIS_SHARDS"),
        redis_cluster=redis_cluster,
        run_sender=not flag("KMCBOT_NO_SENDER"),
        read_receipts=not flag("KMCBOT_NO_READ_RECEIPTS"),
        qr_images=get("KMCBOT_QR_IMAGES") is None or flag("KMCBOT_QR_IMAGES"),
        # A message has 70% of the lease to be handled (pipeline.py): 10 (ms, meant as
        # seconds?) would time every message out.
        lock_lease_ms=_positive_int(
            get("KMCBOT_LOCK_LEASE_MS"), 10_000, "KMCBOT_LOCK_LEASE_MS", low=1000
        ),
        claim_idle_ms=_positive_int(get("KMCBOT_CLAIM_IDLE_MS"), 60_000, "KMCBOT_CLAIM_IDLE_MS"),
        pgbouncer=flag("KMCBOT_PGBOUNCER"),
        template_booking=get("KMCBOT_TEMPLATE_BOOKING") or Settings.template_booking,
        template_slot_cancelled=(
            get("KMCBOT_TEMPLATE_SLOT_CANCELLED") or Settings.template_slot_cancelled
        ),
        template_reminder=get("KMCBOT_TEMPLATE_REMINDER") or Settings.template_reminder,
        template_on_list=get("KMCBOT_TEMPLATE_ON_LIST") or Settings.template_on_list,
        template_waitlist_offer=(
            get("KMCBOT_TEMPLATE_WAITLIST_OFFER") or Settings.template_waitlist_offer
        ),
        offer_hold_s=offer_hold_s,
        staff_secret=staff_secret.encode() if staff_secret else None,
        reminder_hour=reminder_hour,
        body_timeout_s=body_timeout_s,
        # At least one whole 3 MiB body must fit.
        body_budget_mb=_positive_int(
            get("KMCBOT_BODY_BUDGET_MB"), Settings.body_budget_mb, "KMCBOT_BODY_BUDGET_MB", low=3
        ),
    )
