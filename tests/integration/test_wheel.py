"""The package as it is installed (not from the source tree): a built wheel
carries the Lua scripts and sql/'s migrations, and the code finds both there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


# Not copied: what a build or a run leaves behind (a stale build/ would go into the wheel);
# .docker-test holds `make docker-test`'s dockerd data and Debian root filesystems (GBs,
# and links into them that copytree would follow).
LEFT_BEHIND = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    ".kmcbot", ".docker-test",
)  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a clean copy of the source tree, as pip builds one."""
    source = tmp_path_factory.mktemp("source") / "kmcbot"
    shutil.copytree(REPO, source, ignore=LEFT_BEHIND, symlinks=True)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "--quiet", "--wheel-dir", str(out), str(source)],
        check=True, cwd=source, env=os.environ | {"PIP_NO_INPUT": "1"}, timeout=300,
    )  # fmt: skip
    [built] = out.glob("kmcbot-*.whl")
    return built


def test_the_wheel_carries_the_lua_scripts_and_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    lua = {p.name for p in (REPO / "kmcbot" / "storage" / "lua").glob("*.lua")}
    sql = {p.name for p in (REPO / "sql").glob("*.sql")}
    assert lua and {f"kmcbot/storage/lua/{name}" for name in lua} <= names
    assert sql and {f"kmcbot/migrations/{name}" for name in sql} <= names


def test_installed_code_reads_its_migrations_and_scripts_from_the_package(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import kmcbot.settings as s, kmcbot.storage.postgres as db;"
        "from kmcbot.storage.scripts import lua;"
        "print(s.SQL_DIR); print(len(db.migration_files(s.SQL_DIR))); print(len(lua('commit')))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
        capture_output=True, text=True, check=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    where, migrations, script = done.stdout.split()
    assert Path(where) == site / "kmcbot" / "migrations"
    assert int(migrations) == len(list((REPO / "sql").glob("*.sql")))
    assert int(script) > 0
