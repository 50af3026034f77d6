"""Template files stay inside the config's folder even through symbolic links: a link to /etc/passwd, or a
linked folder, is refused when the config loads, so no template can read a file the config cannot see."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.render.template_files import TemplateFileError, TemplateFolder


def folder(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "templates").mkdir(parents=True)
    return root


def test_a_template_file_that_links_outside_the_folder_is_refused(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "templates" / "passwd.txt").symlink_to("/etc/passwd")
    with pytest.raises(TemplateFileError, match="outside the config's folder"):
        TemplateFolder(root).load("templates/passwd.txt")


def test_a_linked_folder_that_leads_outside_is_refused(tmp_path: Path) -> None:
    root = folder(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "mail.txt").write_text("Hoi {{ order.id }}")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(TemplateFileError, match="outside the config's folder"):
        TemplateFolder(root).load("linked/mail.txt")


def test_an_include_that_links_outside_is_refused_too(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "templates" / "mail.txt").write_text('{% include "templates/footer.txt" %}')
    (root / "templates" / "footer.txt").symlink_to("/etc/hostname")
    with pytest.raises(TemplateFileError, match="outside the config's folder"):
        TemplateFolder(root).load("templates/mail.txt")


def test_a_link_that_stays_inside_the_folder_is_fine(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "templates" / "welcome.txt").write_text("Welkom {{ name }}")
    (root / "templates" / "hello.txt").symlink_to(root / "templates" / "welcome.txt")
    assert TemplateFolder(root).load("templates/hello.txt").compiled.render(name="Zoë") == "Welkom Zoë"
