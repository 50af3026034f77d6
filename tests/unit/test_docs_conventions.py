"""Conventions of README.md and docs/*.md a reader relies on: every table has a header row (without one,
Markdown renders no table at all), and SQLite store URLs are written one way, ``sqlite://`` and the file's
path, with what a relative path is relative to said where ``store.url`` and ``--store`` are explained, and
the resolution the docs describe is the one the store does."""

from __future__ import annotations

import re
from pathlib import Path

from router.store.sqlite.connection import sqlite_path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SEPARATOR = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$")
SQLITE_URL = re.compile(r"sqlite:[^\s`\"'),]+")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append((number, line))
    return out


def tables(text: str) -> list[list[tuple[int, str]]]:
    found: list[list[tuple[int, str]]] = []
    previous = -1
    for number, line in prose_lines(text):
        if not line.startswith("|"):
            continue
        if number == previous + 1 and found:
            found[-1].append((number, line))
        else:
            found.append([(number, line)])
        previous = number
    return found


def test_every_table_in_the_docs_has_a_header_row():
    missing = []
    for page in PAGES:
        for table in tables(page.read_text()):
            (first, header), *rest = table
            if SEPARATOR.match(header) or not rest or not SEPARATOR.match(rest[0][1]):
                missing.append(f"{page.relative_to(ROOT)}:{first}")
    assert not missing, f"tables without a header row above |---|: {missing}"


def test_sqlite_store_urls_are_written_one_way():
    odd = []
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            for url in SQLITE_URL.findall(line):
                if url != "sqlite://" and not re.fullmatch(r"sqlite://(/[^/]|[^/]).*", url):
                    odd.append(f"{page.relative_to(ROOT)}:{number}: {url}")
    assert not odd, f"write sqlite:// and the path (sqlite:///var/..., sqlite://router.db): {odd}"


def test_the_docs_say_what_a_relative_sqlite_path_is_relative_to_as_the_store_resolves_it(tmp_path):
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    store_row = next(line for line in configuration.splitlines() if line.startswith("| `store.url` |"))
    assert "relative to the config file's folder" in store_row and "current directory" in store_row
    operating = (ROOT / "docs" / "operating.md").read_text().split("\n## ", 2)[1]  # the Commands section
    assert "`sqlite://router.db`" in operating and "to the current directory" in operating
    assert sqlite_path("sqlite:///var/lib/plugpay-router/router.db", tmp_path) == Path(
        "/var/lib/plugpay-router/router.db"
    )
    assert sqlite_path("sqlite://router.db", tmp_path) == tmp_path / "router.db"
