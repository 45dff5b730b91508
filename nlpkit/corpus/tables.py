"""Label-distribution tables of an embedded corpus, generated from the data.

    python -m nlpkit.corpus.tables            # print the tables
    python -m nlpkit.corpus.tables --write    # refresh them in CODEBOOK.md and DATASHEET.md
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from nlpkit.corpus import corpus_path

TASKS = ("topic", "stance", "escalation")
SPLITS = ("train", "validation", "test", "test_ood")
BEGIN, END = "<!-- TABLES:BEGIN -->", "<!-- TABLES:END -->"


def read(name: str = "newswire") -> list[dict]:
    """All documents of an embedded corpus."""
    with corpus_path(name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def tables(rows: list[dict]) -> str:
    """Markdown: documents per split, then label counts per split for each task, then regions."""
    splits = [s for s in SPLITS if any(r["split"] == s for r in rows)]
    out = [f"{len(rows)} documents.", "", "| split | documents |", "|---|---:|"]
    out += [f"| {s} | {sum(r['split'] == s for r in rows)} |" for s in splits] + [""]
    for column in (*TASKS, "region", "source_type"):
        out += _table(rows, column, splits) + [""]
    return "\n".join(out).rstrip() + "\n"


def _table(rows: list[dict], column: str, splits: list[str]) -> list[str]:
    counts = {s: Counter(r[column] for r in rows if r["split"] == s) for s in splits}
    total = Counter(r[column] for r in rows)
    lines = [f"**{column}**", "", f"| {column} | " + " | ".join(splits) + " | all | share |",
             "|---|" + "---:|" * (len(splits) + 2)]
    for value in sorted(total, key=lambda v: (-total[v], v)):
        cells = " | ".join(str(counts[s][value]) for s in splits)
        lines.append(f"| `{value}` | {cells} | {total[value]} | {total[value] / len(rows):.1%} |")
    return lines


def splice(document: Path, generated: str) -> str:
    """``document``'s text with the generated tables between the TABLES markers."""
    text = document.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{generated}{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="refresh the tables in CODEBOOK.md and DATASHEET.md")
    args = parser.parse_args()
    generated = tables(read())
    if not args.write:
        print(generated)
        return
    for name in ("CODEBOOK.md", "DATASHEET.md"):
        path = Path(__file__).with_name(name)
        path.write_text(splice(path, generated), encoding="utf-8")
        print(f"updated {path}")


if __name__ == "__main__":
    main()
