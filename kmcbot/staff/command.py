"""`kmcbot staff add|list|disable|token`: staff accounts from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from kmcbot.settings import Settings
from kmcbot.staff import accounts, audit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="staff_command", required=True)
    add = sub.add_parser("add", help="create an account; prints a one-time password")
    add.add_argument("--name", required=True, help="the person's name, e.g. 'Rina Das'")
    add.add_argument("--role", required=True, choices=accounts.ROLES)
    add.add_argument("--centre", help="the centre's code (a clerk's one centre)")
    add.add_argument("--login", help="the login [from the name: rina.das]")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of making one",
    )
    sub.add_parser("list", help="every account")
    disable = sub.add_parser("disable", help="disable an account at once")
    disable.add_argument("login")
    token = sub.add_parser("token", help="a new /admin API token for an account")
    token.add_argument("login")
    demo = sub.add_parser("demo", help="dev mode: demo clerks and an operator (make run)")
    demo.add_argument("--url", default="http://127.0.0.1:8080", help="where the bot will be")


def command(settings: Settings, args: argparse.Namespace) -> int:
    """`settings` with the database URL resolved (cli.services)."""
    from kmcbot.storage import postgres as db

    if args.staff_command == "demo" and not settings.dev:
        print(
            "kmcbot: staff demo makes accounts with known passwords: dev mode only (KMCBOT_DEV=1)",
            file=sys.stderr,
        )
        return 2
    password = None
    if args.staff_command == "add" and args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    url = settings.database_url or ""
    asyncio.run(db.migrate(url, settings.sql_dir))
    return asyncio.run(_run(url, args, password))


async def _run(url: str, args: argparse.Namespace, password: str | None) -> int:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        return await _act(pool, args, password)
    except accounts.AccountError as exc:
        print(f"kmcbot: {exc}", file=sys.stderr)
        return 2
    finally:
        await pool.close()


async def _act(pool: asyncpg.Pool, args: argparse.Namespace, password: str | None) -> int:
    match args.staff_command:
        case "add":
            made = password is None
            password = password if password is not None else accounts.new_password()
            staff = await accounts.create(
                pool,
                login=(args.login or accounts.login_of(args.name)).lower(),
                name=args.name,
                role=args.role,
                centre_code=args.centre,
                password=password,
            )
            await audit.record(
                pool,
                None,
                "account_created",
                "cli",
                login="cli",
                centre_id=staff.centre_id,
                account=staff.login,
                role=staff.role,
            )
            where = f" at {staff.centre_code}" if staff.centre_code else ""
            print(f"created {staff.role} {staff.login}{where}")
            if made:
                print(f"one-time password: {password}")
        case "list":
            for r in await accounts.list_all(pool):
                state = "active" if r["active"] else "disabled"
                print(f"{r['login']}\t{r['role']}\t{r['centre_code'] or '-'}\t{state}\t{r['name']}")
        case "disable":
            staff = await accounts.disable(pool, args.login)
            await audit.record(
                pool, None, "account_disabled", "cli", login="cli", account=staff.login
            )
            print(f"disabled {staff.login}")
        case "token":
            row = await pool.fetchrow(
                "SELECT id FROM staff_accounts WHERE login = $1 AND active", args.login
            )
            if row is None:
                raise accounts.AccountError(f"no active account {args.login}")
            token = await accounts.new_api_token(pool, row["id"])
            await audit.record(
                pool, None, "api_token_created", "cli", login="cli", account=args.login
            )
            print(token)
        case "demo":
            await _demo(pool, args.url)
    return 0


# The demo desk of `make run`: known logins and one password, in dev mode only.
DEMO_PASSWORD = "demo-desk-2021"  # noqa: S105 - published on purpose; `staff demo` is dev mode only
DEMO_CLERKS = ("ROXY", "BSU", "SCS")
DEMO_OPERATOR = "kmc.operator"


async def _demo(pool: asyncpg.Pool, url: str) -> None:
    wanted: list[tuple[str, str, str | None]] = [
        (f"{code.lower()}.clerk", "clerk", code) for code in DEMO_CLERKS
    ]
    wanted.append((DEMO_OPERATOR, "operator", None))
    lines = []
    for login, role, code in wanted:
        exists = await pool.fetchval("SELECT true FROM staff_accounts WHERE login = $1", login)
        if exists:
            await accounts.set_password(pool, login, DEMO_PASSWORD)
            await pool.execute("UPDATE staff_accounts SET active = true WHERE login = $1", login)
        else:
            name = f"Demo clerk {code}" if code else "Demo operator"
            await accounts.create(
                pool, login=login, name=name, role=role, centre_code=code, password=DEMO_PASSWORD
            )
        lines.append(f"  {login:<14} {role}{f' at {code}' if code else ''}")
    print(f"chat page:     {url}/dev/chat")
    print(f"staff console: {url}/staff/  (password {DEMO_PASSWORD} for each)")
    print("\n".join(lines))
