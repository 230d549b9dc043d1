"""The image builder's pure parts: which Debian mirror the offline base comes from."""

from __future__ import annotations

from pathlib import Path

from harness import images


def test_deb822_sources_give_the_main_archive_not_security() -> None:
    text = """Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security

Types: deb
URIs: http://mirror.example.org/debian/
Suites: bookworm bookworm-updates
"""
    assert images.mirror_from_sources_text(text) == "http://mirror.example.org/debian"


def test_one_line_sources_with_options() -> None:
    text = "# comment\ndeb-src http://src.example/debian bookworm main\n" \
           "deb [arch=amd64 signed-by=/k.gpg] http://ftp.example/debian bookworm main\n"
    assert images.mirror_from_sources_text(text) == "http://ftp.example/debian"


def test_non_debian_sources_are_ignored_and_the_default_is_used(tmp_path: Path) -> None:
    other = tmp_path / "nodesource.sources"
    other.write_text("Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n")
    missing = tmp_path / "absent.list"
    assert images.debian_mirror(iter([other, missing])) == images.DEFAULT_MIRROR


def test_tree_hash_depends_on_the_base() -> None:
    f = images.ROOT / "pyproject.toml"
    a = images.tree_hash([f], extra="base-1")
    assert a == images.tree_hash([f], extra="base-1")
    assert a != images.tree_hash([f], extra="base-2")
