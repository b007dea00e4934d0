"""The labelled reply corpus: loading, scoring, and the report `make corpus` prints.

    python -m tests.corpus [--errors] [--json] [--corpus tests/data/intents/holdout.jsonl]

Each line of tests/data/intents/corpus.jsonl is a reply as received (quoted history and
signature included), its intent, and optionally the dates and entities it mentions. The
reply goes through the same cleaning as an inbound mail before it is read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "intents" / "corpus.jsonl"
# Written apart from the engine, under the same rules: the honest accuracy figure.
HOLDOUT = ROOT / "tests" / "data" / "intents" / "holdout.jsonl"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.handlers.entities import extract, warm_up  # noqa: E402
from bot.handlers.intents import INTENTS, understand  # noqa: E402
from bot.handlers.quotes import strip_reply  # noqa: E402

ENTITY_KEYS = ("dsn", "rfc", "emails", "agent_keys")


@dataclass(frozen=True)
class Example:
    """One labelled reply."""

    id: str
    text: str
    intent: str
    channel: str
    now: datetime
    dates: tuple[str, ...] | None
    entities: dict[str, tuple[str, ...]] | None


@dataclass
class Score:
    """How the engine did on the corpus."""

    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[tuple[Example, str, str]] = field(default_factory=list)
    dated: int = 0
    dates_right: int = 0
    date_misses: list[tuple[Example, tuple[str, ...]]] = field(default_factory=list)
    with_entities: int = 0
    entities_right: int = 0
    entity_misses: list[tuple[Example, dict[str, list[str]]]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Examples scored."""
        return sum(self.confusion.values())

    @property
    def accuracy(self) -> float:
        """Share of examples whose intent was right."""
        right = sum(n for (want, got), n in self.confusion.items() if want == got)
        return right / self.total if self.total else 0.0

    def precision(self, intent: str) -> float:
        """Of the replies read as `intent`, the share that were."""
        said = sum(n for (_, got), n in self.confusion.items() if got == intent)
        return self.confusion[(intent, intent)] / said if said else 1.0

    def recall(self, intent: str) -> float:
        """Of the replies that were `intent`, the share read as such."""
        were = sum(n for (want, _), n in self.confusion.items() if want == intent)
        return self.confusion[(intent, intent)] / were if were else 1.0

    def support(self, intent: str) -> int:
        """How many examples carry this label."""
        return sum(n for (want, _), n in self.confusion.items() if want == intent)

    @property
    def date_accuracy(self) -> float:
        """Share of dated examples whose dates were all and only right."""
        return self.dates_right / self.dated if self.dated else 1.0


def load(path: Path = CORPUS) -> list[Example]:
    """Every example of the corpus file."""
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name}:{number}: {exc}") from exc
        entities = raw.get("entities")
        examples.append(
            Example(
                id=raw["id"],
                text=raw["text"],
                intent=raw["intent"],
                channel=raw.get("channel", "mail"),
                now=datetime.fromisoformat(raw.get("now", "2026-11-20T10:00")),
                dates=tuple(raw["dates"]) if "dates" in raw else None,
                entities=(
                    {k: tuple(entities.get(k, ())) for k in ENTITY_KEYS} if entities else None
                ),
            )
        )
    return examples


def score(examples: list[Example]) -> Score:
    """Read every example as the bot would and compare with its labels."""
    result = Score()
    started = time.perf_counter()
    for ex in examples:
        cleaned = strip_reply(ex.text)
        got = understand(cleaned).intent
        result.confusion[(ex.intent, got)] += 1
        if got != ex.intent:
            result.misses.append((ex, got, cleaned))
        if ex.dates is None and ex.entities is None:
            continue
        found = extract(cleaned, ex.now).as_json()
        if ex.dates is not None:
            result.dated += 1
            if tuple(found["dates"]) == ex.dates:
                result.dates_right += 1
            else:
                result.date_misses.append((ex, tuple(found["dates"])))
        if ex.entities is not None:
            result.with_entities += 1
            if all(tuple(found[k]) == ex.entities[k] for k in ENTITY_KEYS):
                result.entities_right += 1
            else:
                result.entity_misses.append((ex, {k: found[k] for k in ENTITY_KEYS}))
    result.seconds = time.perf_counter() - started
    return result


def report(result: Score, errors: bool = False) -> str:
    """The confusion matrix, precision and recall per intent, and the totals."""
    short = {i: i[:6] for i in INTENTS}
    width = 12
    lines = ["Matriz de confusión (filas: etiqueta; columnas: lo que entendió el bot)", ""]
    lines.append(" " * width + "".join(f"{short[i]:>8}" for i in INTENTS))
    for want in INTENTS:
        row = "".join(f"{result.confusion[(want, got)] or '.':>8}" for got in INTENTS)
        lines.append(f"{want:<{width}}{row}")
    lines += ["", f"{'intención':<{width}}{'precisión':>10}{'recall':>10}{'ejemplos':>10}"]
    for intent in INTENTS:
        lines.append(
            f"{intent:<{width}}{result.precision(intent):>10.1%}"
            f"{result.recall(intent):>10.1%}{result.support(intent):>10}"
        )
    lines += [
        "",
        f"Exactitud: {result.accuracy:.1%} de {result.total} respuestas",
        f"Fechas: {result.date_accuracy:.1%} de {result.dated} respuestas con fecha",
        f"Datos (DSN, RFC, correos, claves): {result.entities_right} de {result.with_entities}",
        f"Velocidad: {result.total / result.seconds:,.0f} respuestas/s (en caliente)"
        if result.seconds
        else "",
    ]
    if errors:
        lines += ["", "Errores de intención:"]
        for ex, got, cleaned in result.misses:
            lines.append(f"  {ex.id}: {ex.intent} -> {got}: {cleaned[:160]!r}")
        lines += ["", "Errores de fecha:"]
        for ex, found in result.date_misses:
            lines.append(
                f"  {ex.id} ({ex.now:%a %Y-%m-%d}): {ex.dates} -> {found}: {ex.text[:120]!r}"
            )
        lines += ["", "Errores de datos:"]
        for ex, found_entities in result.entity_misses:
            lines.append(f"  {ex.id}: {ex.entities} -> {found_entities}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list every miss")
    parser.add_argument("--json", action="store_true", help="figures as JSON")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    warm_up()
    result = score(load(args.corpus))
    if args.json:
        figures: dict[str, Any] = {
            "accuracy": result.accuracy,
            "date_accuracy": result.date_accuracy,
            "per_intent": {
                i: {"precision": result.precision(i), "recall": result.recall(i)} for i in INTENTS
            },
            "replies_per_second": result.total / result.seconds if result.seconds else None,
        }
        print(json.dumps(figures, indent=2))
    else:
        print(report(result, args.errors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
