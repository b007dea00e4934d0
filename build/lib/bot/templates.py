"""User-facing text lives in templates/: Jinja2 rendering of mail and chat messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

SUBJECT_PREFIX = "Asunto:"


def default_templates_dir(config_dir: Path | None = None) -> Path:
    """templates/ beside the config file if present, else the one shipped with the code."""
    if config_dir is not None and (config_dir / "templates").is_dir():
        return config_dir / "templates"
    return Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class RenderedMail:
    """A rendered mail: subject line and plain-text body."""

    subject: str
    body: str


class Templates:
    """The template set; a missing variable is an error, never a silent blank."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = Environment(
            loader=FileSystemLoader(str(root)),
            undefined=StrictUndefined,
            autoescape=False,  # plain text mail; HTML is never produced from these
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def mail(self, name: str, context: Mapping[str, Any]) -> RenderedMail:
        """Render templates/email/<name>.txt.j2; its first line is 'Asunto: ...'."""
        text = self.env.get_template(f"email/{name}.txt.j2").render(**context)
        first, _, rest = text.partition("\n")
        if not first.startswith(SUBJECT_PREFIX):
            raise ValueError(f"template email/{name} must start with '{SUBJECT_PREFIX}'")
        return RenderedMail(first[len(SUBJECT_PREFIX) :].strip(), rest.lstrip("\n"))

    def text(self, name: str, context: Mapping[str, Any]) -> str:
        """Render any other template (chat, digest) to text."""
        return self.env.get_template(name).render(**context)

    def names(self, folder: str = "email") -> list[str]:
        """Every template name under a folder, without the extension."""
        base = self.root / folder
        return sorted(
            str(p.relative_to(base)).removesuffix(".txt.j2") for p in base.rglob("*.txt.j2")
        )
