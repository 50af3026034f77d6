"""Template files: ``text_file:`` / ``html_file:`` (email) and ``body_file:`` (http) next to the config.

A long mail is easier to write as ``templates/welcome.html`` than inside YAML. The names are relative to
the folder of the config file (its real folder, when the config is a symbolic link), and the files are
templates of the same immutable sandbox, with the same render limits, as inline values. ``{% include %}``,
``{% extends %}`` and ``{% import %}`` read from that folder only: a name with ``..`` or an absolute path is
refused (Jinja's FileSystemLoader rooted at the folder), so is a file whose real path (symbolic links, of
files and folders, resolved) lies outside it, and a name must be a fixed text, so that loading
the config reads, compiles and checks every file a template can reach. Values in ``.html`` files are
HTML-escaped, as Jinja does for HTML files (inline ``html:`` values are not, as before). Nothing is read again while the
config is in use: a changed file applies when the config is loaded again (SIGHUP reloads it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from jinja2 import meta

from router.render.template_errors import shown_path
from router.render.templates import Template, make_environment, syntax_message

# Action keys whose value may come from a file instead: file key -> the action key it fills.
FILE_KEYS = {"text_file": "text", "html_file": "html", "body_file": "body"}
# Files whose values are HTML-escaped (a customer's name cannot add markup to a mail); ``| safe`` opts out.
AUTOESCAPED = ("html", "htm", "xml")


class TemplateFileError(Exception):
    """A template file could not be used; ``file`` and ``line`` say where (the file itself, when it exists)."""

    def __init__(self, message: str, file: str | None = None, line: int = 1):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line


@dataclass
class TemplateFolder:
    """The template files of one config: loaded through one environment rooted at the config's folder."""

    root: Path
    env: jinja2.Environment = field(init=False)
    _loaded: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        loader = jinja2.FileSystemLoader(str(self.root), followlinks=False)
        self.env = make_environment(loader=loader, autoescape=jinja2.select_autoescape(AUTOESCAPED, default=False))

    @classmethod
    def of_config(cls, config_file: str) -> TemplateFolder:
        return cls(Path(config_file).resolve().parent)

    def load(self, name: object) -> Template:
        """The compiled template ``name``, with everything it includes; raises TemplateFileError."""
        if not isinstance(name, str) or not name.strip():
            raise TemplateFileError("expected a file name relative to the config file, such as templates/welcome.html")
        name = name.strip()
        compiled = self._get(name, None)
        return Template(compiled.filename or name, compiled, f"{shown_path(compiled.filename or name)}:1")

    def _get(self, name: str, parent: jinja2.Template | None) -> jinja2.Template:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise TemplateFileError(
                f"{name!r} is outside the config's folder: use a path below {shown_path(str(self.root))}",
                *self._origin(parent),
            )
        real = (self.root / name).resolve()
        if not real.is_relative_to(self.root.resolve()):
            raise TemplateFileError(
                f"{name!r} is a link to {shown_path(str(real))}, outside the config's folder: template files"
                f" must really be below {shown_path(str(self.root))} (a link may not lead out, nor a linked folder)",
                *self._origin(parent),
            )
        try:
            compiled = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise TemplateFileError(
                f"cannot open {shown_path(str(self.root / name))}: no such file (names are relative to the"
                " config file's folder)",
                *self._origin(parent),
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            file = shown_path(exc.filename) if exc.filename else name
            raise TemplateFileError(f"template error: {syntax_message(exc)}", file, exc.lineno or 1) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateFileError(f"cannot read {name}: {exc}", *self._origin(parent)) from None
        if name not in self._loaded:
            self._loaded.add(name)
            self._check_references(name, compiled)
        return compiled

    def _check_references(self, name: str, compiled: jinja2.Template) -> None:
        source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        for referenced in meta.find_referenced_templates(self.env.parse(source)):
            if referenced is None:
                raise TemplateFileError(
                    "include, extends and import need a fixed file name in quotes, so check can load it",
                    shown_path(compiled.filename or name),
                )
            self._get(referenced, compiled)

    @staticmethod
    def _origin(parent: jinja2.Template | None) -> tuple[str | None, int]:
        return (shown_path(parent.filename), 1) if parent is not None and parent.filename else (None, 1)
