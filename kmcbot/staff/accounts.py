"""Staff accounts in PostgreSQL: argon2id password hashes, roles, API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("clerk", "operator")
LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{1,39}")
MIN_PASSWORD = 10
MAX_PASSWORD = 200
_hasher = PasswordHasher()
# Checked against when the login is unknown, so that a wrong login takes as long
# as a wrong password (the time must not tell which logins exist).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about accounts the data refuses; the message is for the operator."""


@dataclass(frozen=True, slots=True)
class Staff:
    id: int
    login: str
    name: str
    role: str
    centre_id: int | None
    centre_code: str | None
    active: bool
    epoch: int

    @property
    def operator(self) -> bool:
        return self.role == "operator"

    def may_act_at(self, centre_id: int) -> bool:
        return self.operator or self.centre_id == centre_id


_COLUMNS = """a.id, a.login, a.name, a.role, a.centre_id, c.code AS centre_code, a.active,
    a.session_epoch AS epoch"""
_FROM = "staff_accounts a LEFT JOIN centres c ON c.id = a.centre_id"


_FIELDS = ("id", "login", "name", "role", "centre_id", "centre_code", "active", "epoch")


def _staff(row: asyncpg.Record | None) -> Staff | None:
    return Staff(*(row[f] for f in _FIELDS)) if row is not None else None


def new_password() -> str:
    """A one-time password to read out or copy: 4 groups of 4, no look-alikes."""
    alphabet = "23456789abcdefghjkmnpqrstuvwxyz"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def login_of(name: str) -> str:
    """A login from a name: "Rina Das" -> "rina.das"."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return ".".join(words)[:40] or "staff"


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"the password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")


async def create(
    pool: asyncpg.Pool | asyncpg.Connection,
    *,
    login: str,
    name: str,
    role: str,
    centre_code: str | None,
    password: str,
) -> Staff:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not LOGIN.fullmatch(login):
        raise AccountError(
            "login: 2-40 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
        )
    if not name.strip() or len(name) > 100:
        raise AccountError("name: 1-100 characters")
    check_password(password)
    centre_id = None
    if role == "clerk":
        if not centre_code:
            raise AccountError("a clerk works at one centre: give --centre CODE")
        centre_id = await pool.fetchval("SELECT id FROM centres WHERE code = $1", centre_code)
        if centre_id is None:
            raise AccountError(f"no centre with code {centre_code}")
    elif centre_code:
        raise AccountError("an operator works at every centre: no --centre")
    digest = _hasher.hash(password)
    try:
        new_id = await pool.fetchval(
            """INSERT INTO staff_accounts (login, name, role, centre_id, password_hash)
               VALUES ($1, $2, $3, $4, $5) RETURNING id""",
            login,
            name.strip(),
            role,
            centre_id,
            digest,
        )
    except asyncpg.UniqueViolationError:
        raise AccountError(f"the login {login} is taken") from None
    staff = await by_id(pool, new_id)
    assert staff is not None
    return staff


async def by_id(pool: asyncpg.Pool | asyncpg.Connection, staff_id: int) -> Staff | None:
    return _staff(await pool.fetchrow(f"SELECT {_COLUMNS} FROM {_FROM} WHERE a.id = $1", staff_id))


async def authenticate(pool: asyncpg.Pool, login: str, password: str) -> Staff | None:
    """The active account if the password is right, else None (same time either way)."""
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS}, a.password_hash FROM {_FROM} WHERE a.login = $1", login
    )
    stored = row["password_hash"] if row is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row["active"]:
        return None
    return _staff(row)


async def set_password(pool: asyncpg.Pool, login: str, password: str) -> None:
    """A new password; every cookie of the old one is out (the epoch rises)."""
    check_password(password)
    done = await pool.execute(
        """UPDATE staff_accounts SET password_hash = $2, session_epoch = session_epoch + 1
           WHERE login = $1""",
        login,
        _hasher.hash(password),
    )
    if done == "UPDATE 0":
        raise AccountError(f"no account {login}")


async def list_all(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"SELECT {_COLUMNS}, a.created_at, a.disabled_at FROM {_FROM} ORDER BY a.login"
    )


async def disable(pool: asyncpg.Pool, login: str) -> Staff:
    """Out at once: the epoch rises, so every cookie and token of the account stops working."""
    row = await pool.fetchrow(
        """UPDATE staff_accounts SET active = false, disabled_at = coalesce(disabled_at, now()),
                  session_epoch = session_epoch + 1
           WHERE login = $1 RETURNING id""",
        login,
    )
    if row is None:
        raise AccountError(f"no account {login}")
    await pool.execute(
        "UPDATE staff_api_tokens SET revoked_at = now() WHERE staff_id = $1 AND revoked_at IS NULL",
        row["id"],
    )
    staff = await by_id(pool, row["id"])
    assert staff is not None
    return staff


# ---------------------------------------------------------------- API tokens


def _token_hash(token: str) -> str:
    # Tokens are long and random: a plain SHA-256 is enough (no guessing to slow down).
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


async def new_api_token(pool: asyncpg.Pool, staff_id: int) -> str:
    token = "kmcs_" + secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO staff_api_tokens (staff_id, token_hash) VALUES ($1, $2)",
        staff_id,
        _token_hash(token),
    )
    return token


async def by_api_token(pool: asyncpg.Pool, token: str) -> Staff | None:
    return _staff(
        await pool.fetchrow(
            f"""SELECT {_COLUMNS} FROM {_FROM} JOIN staff_api_tokens t ON t.staff_id = a.id
                WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND a.active""",
            _token_hash(token),
        )
    )
