"""The README and the manual in docs/ keep their promises.

The README stays short (the manual lives in docs/), names the two set-up commands, and every
setting is documented in docs/settings.md exactly as ``shadowgap settings --markdown`` prints
it. Every file path the docs name exists, every relative link points to a file that exists, and
every ``#anchor`` to a heading of the file it names.
"""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from shadowgap.cli.main import app
from shadowgap.config import Settings

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
README = ROOT / "README.md"
SETTINGS_DOC = ROOT / "docs" / "settings.md"
README_MAX_LINES = 160

# Paths in the repository start with one of these folders; a path inside a longer one
# (~/.cache/shadowgap/wheels/, https://host/docs/) is not the repository's.
PATH = re.compile(r"(?<![\w./~:-])(?:shadowgap|tests|benchmarks|docs|\.ci)/[\w./-]*")
# Folders the code left when it moved into shadowgap/ (ARCHITECTURE.md maps them, nothing else
# should name them).
OLD_PATH = re.compile(r"(?<![\w./~:-])(?:service|jobs)/[\w./-]*")
# [text](target): the target up to the closing parenthesis, without a title.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def manual() -> list[Path]:
    """README.md, ARCHITECTURE.md when present, and every page of docs/."""
    files = [README, ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [f for f in files if f.is_file()]


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text()):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def settings_table(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("| variable | default | what it does |")
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return table


def test_the_readme_fits_on_a_screen() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move the detail to docs/"
    )


def test_every_setting_is_documented() -> None:
    text = SETTINGS_DOC.read_text()
    missing = [name for name in Settings.model_fields if f"SHADOWGAP_{name.upper()}" not in text]
    assert not missing, "\n".join(missing)


def test_the_settings_table_is_what_the_code_prints() -> None:
    result = CliRunner().invoke(app, ["settings", "--markdown"])
    assert result.exit_code == 0, result.output
    printed = result.output.strip().splitlines()
    documented = settings_table(SETTINGS_DOC.read_text())
    # On a mismatch, paste the output of `shadowgap settings --markdown` into docs/settings.md.
    assert documented == printed


def test_every_path_the_docs_name_exists() -> None:
    # Code blocks included: the production commands name files in their comments.
    missing = []
    for doc in manual():
        for match in PATH.finditer(doc.read_text()):
            path = match.group(0).rstrip(".,:;")
            if not (ROOT / path).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
    assert not missing, "\n".join(missing)


def test_the_docs_name_no_path_from_before_the_move() -> None:
    stale = []
    for doc in manual():
        if doc.name != "ARCHITECTURE.md":
            stale += [f"{doc.relative_to(ROOT)}: {m}" for m in OLD_PATH.findall(doc.read_text())]
    assert not stale, "\n".join(stale)


def test_every_relative_link_resolves() -> None:
    broken = []
    for doc in manual():
        for line in prose(doc.read_text()):
            for target in LINK.findall(line):
                if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                    continue
                file_part, _, anchor = target.partition("#")
                linked = (doc.parent / file_part).resolve() if file_part else doc
                where = f"{doc.relative_to(ROOT)}: {target}"
                if not linked.exists():
                    broken.append(f"{where} (no such file)")
                elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                    broken.append(f"{where} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_docs_index_lists_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    pages = [p.name for p in (ROOT / "docs").glob("*.md") if p.name != "README.md"]
    assert [p for p in pages if f"({p})" not in index] == []


def test_ci_runs_the_readme_test_command() -> None:
    readme = README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in readme and "./dev demo" in readme
    assert "./dev test" in ci
