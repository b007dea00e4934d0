"""User-facing text lives in templates/: Jinja2 rendering of mail and chat messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from bot.config import fold_name

SUBJECT_PREFIX = "Asunto:"
KNOWN_ANSWERS = Path("chat") / "MA-007" / "conocido"
# The help desk lists a known answer's keyword phrases in its first line, as a Jinja
# comment so they never reach the agent: {#- palabras: contraseña ipad; olvidé ... -#}
_KEYWORDS = re.compile(r"^\s*\{#-?\s*palabras\s*:(?P<phrases>.*?)-?#\}\s*$", re.IGNORECASE)


def default_templates_dir(config_dir: Path | None = None) -> Path:
    """templates/ beside the config file if present, else the one shipped with the code."""
    if config_dir is not None and (config_dir / "templates").is_dir():
        return config_dir / "templates"
    return Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class RenderedMail:
    """A rendered mail: subject line, plain-text body and, optionally, an HTML body."""

    subject: str
    body: str
    html: str | None = None


class Templates:
    """The template set; a missing variable is an error, never a silent blank."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = Environment(
            loader=FileSystemLoader(str(root)),
            undefined=StrictUndefined,
            autoescape=False,  # plain text: escaping would show &amp; to the reader
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # A separate environment for *.html.j2: subjects and bodies come from outside
        # (anyone can mail the help desk), so everything is escaped unless marked safe.
        self.html_env = Environment(
            loader=FileSystemLoader(str(root)),
            undefined=StrictUndefined,
            autoescape=True,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def mail(self, name: str, context: Mapping[str, Any]) -> RenderedMail:
        """Render templates/email/<name>.txt.j2 (first line 'Asunto: ...') and its HTML twin."""
        text = self.env.get_template(f"email/{name}.txt.j2").render(**context)
        first, _, rest = text.partition("\n")
        if not first.startswith(SUBJECT_PREFIX):
            raise ValueError(f"template email/{name} must start with '{SUBJECT_PREFIX}'")
        subject = first[len(SUBJECT_PREFIX) :].strip()
        return RenderedMail(subject, rest.lstrip("\n"), self.html(name, context))

    def html(self, name: str, context: Mapping[str, Any]) -> str | None:
        """Render templates/email/<name>.html.j2, or None when the mail is plain text only."""
        try:
            template = self.html_env.get_template(f"email/{name}.html.j2")
        except TemplateNotFound:
            return None
        return template.render(**context)

    def text(self, name: str, context: Mapping[str, Any]) -> str:
        """Render any other template (chat, digest) to text."""
        return self.env.get_template(name).render(**context)

    def names(self, folder: str = "email") -> list[str]:
        """Every template name under a folder, without the extension."""
        base = self.root / folder
        return sorted(
            str(p.relative_to(base)).removesuffix(".txt.j2") for p in base.rglob("*.txt.j2")
        )

    def html_names(self, folder: str = "email") -> list[str]:
        """The names under a folder that also have an HTML version."""
        base = self.root / folder
        return sorted(
            str(p.relative_to(base)).removesuffix(".html.j2") for p in base.rglob("*.html.j2")
        )


def load_known_answers(root: Path) -> dict[str, tuple[str, ...]]:
    """Known-answer topics of MA-007 under a templates root, with their folded phrases."""
    answers: dict[str, tuple[str, ...]] = {}
    for path in sorted((root / KNOWN_ANSWERS).glob("*.txt.j2")):
        first = path.read_text(encoding="utf-8-sig").partition("\n")[0]
        match = _KEYWORDS.match(first)
        phrases = match["phrases"].split(";") if match else []
        # A topic without the header is still listed (it exists) but can never match.
        folded = (fold_name(p) for p in phrases)
        answers[path.name.removesuffix(".txt.j2")] = tuple(dict.fromkeys(f for f in folded if f))
    return answers
