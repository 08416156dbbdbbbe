"""Migration files read in chain order: their names start with their position in the chain.

Revision ids never change (deployed databases hold them in ``alembic_version``), so a file is
named ``<position>_<revision>_<slug>.py``; this test keeps that true for every new migration.
"""

from __future__ import annotations

import ast
from pathlib import Path

import shadowgap.db.migrations

VERSIONS = Path(shadowgap.db.migrations.__file__).parent / "versions"


def _revision_ids(path: Path) -> tuple[str, str | None]:
    values: dict[str, str | None] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("revision", "down_revision") and isinstance(node.value, ast.Constant):
                values[name] = node.value.value
    return str(values["revision"]), values.get("down_revision")


def test_files_in_name_order_follow_the_chain() -> None:
    files = sorted(VERSIONS.glob("[0-9]*.py"))
    assert len(files) >= 8
    previous: str | None = None
    for position, path in enumerate(files, start=1):
        revision, down = _revision_ids(path)
        assert down == previous, f"{path.name} revises {down}, expected {previous}"
        assert path.name.startswith(f"{position:02d}_{revision}_"), path.name
        previous = revision
