"""The audit of staff actions: who, what, when, from where.

`detail` carries references, counts and codes only: never a citizen's name,
number, ID or a check-in code.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from kmcbot.staff.accounts import Staff


async def record(
    pool: asyncpg.Pool | asyncpg.Connection,
    staff: Staff | None,
    action: str,
    address: str | None,
    *,
    centre_id: int | None = None,
    login: str | None = None,
    **detail: Any,
) -> None:
    await pool.execute(
        """INSERT INTO staff_audit (staff_id, login, action, centre_id, detail, address)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6)""",
        staff.id if staff else None,
        staff.login if staff else login,
        action,
        centre_id,
        orjson.dumps(detail).decode(),
        address,
    )


async def recent(pool: asyncpg.Pool, limit: int = 200) -> list[asyncpg.Record]:
    return await pool.fetch(
        """SELECT a.at, a.login, a.action, c.code AS centre, a.detail, a.address
           FROM staff_audit a LEFT JOIN centres c ON c.id = a.centre_id
           ORDER BY a.at DESC, a.id DESC LIMIT $1""",
        limit,
    )
