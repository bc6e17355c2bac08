"""The README's Layout lists every module of kmcbot/ with one line each, in the
tree's order: a module added, moved or removed without the README fails here."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def tree(folder: Path, prefix: str = "") -> list[str]:
    """Every module and data file (folders too), as `tree` lists them; a folder
    without Python modules (catalogues/, static/, lua/) is one entry."""
    found = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name in ("__pycache__", "__init__.py"):
            continue
        found.append(prefix + path.name + ("/" if path.is_dir() else ""))
        if path.is_dir() and any(path.glob("*.py")):
            found += tree(path, f"{prefix}{path.name}/")
    return found


def listed() -> list[tuple[str, str]]:
    """(path under kmcbot/, its description) for each line of the Layout's kmcbot/ part."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1].splitlines()
    start = next(n for n, line in enumerate(block) if line.startswith("kmcbot/"))
    folders: list[str] = []
    entries = []
    for line in block[start + 1 :]:
        if not line.startswith("  "):
            break
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name, _, description = line.strip().partition(" ")
        folders[depth - 1 :] = [name] if name.endswith("/") else []
        entries.append(("".join(folders[: depth - 1]) + name, description.strip()))
    return entries


def test_the_layout_lists_every_module_in_the_trees_order() -> None:
    assert [path for path, _ in listed()] == tree(REPO / "kmcbot")


def test_each_line_says_what_is_there() -> None:
    assert all(description for _, description in listed())
