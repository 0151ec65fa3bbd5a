"""Put sections measured in separate runs into one record: ``python benchmarks/combine.py
A.json B.json [--out-dir DIR]``.

The full benchmark takes hours; its sections can be run one at a time (``--only``) and
combined here into the same ``benchmarks.json``, table and plot that one run writes. Each
section must come from exactly one file, and the files must agree on the benchmark's
size and reference budget; the record keeps where and when each section was measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import FULL, SECTIONS, publish
from painterly.errors import PainterlyError

AGREE = ("size", "reference_evaluations", "preset", "content", "style")


def combine(records: list[tuple[str, dict]]) -> dict:
    """One results record from ``(source name, record)`` pairs, each giving its sections."""
    first = records[0][1]
    combined: dict = {
        "mode": "full" if all(r.get("mode") == "full" for _, r in records) else "quick",
        "machine": first["machine"],
        "settings": dict(first["settings"]),
        "sources": [],
    }
    for source, record in records:
        for key in AGREE:
            if record["settings"].get(key) != first["settings"].get(key):
                raise PainterlyError(
                    f"{source} was measured with {key} = {record['settings'].get(key)!r}, "
                    f"{records[0][0]} with {first['settings'].get(key)!r}"
                )
        if record["machine"].get("cpu") != first["machine"].get("cpu"):
            raise PainterlyError(f"{source} was measured on another CPU")
        sections = [s for s in SECTIONS if s in record]
        for section in sections:
            if section in combined:
                raise PainterlyError(f"the {section} section is in more than one file")
            combined[section] = record[section]
        combined["sources"].append(
            {"file": source, "date": record.get("date"), "sections": sections}
        )
    combined["date"] = max(s["date"] or "" for s in combined["sources"])
    return combined


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path, help="benchmarks.json files")
    parser.add_argument("--out-dir", type=Path, default=FULL["out_dir"])
    args = parser.parse_args(argv)
    try:
        records = []
        for path in args.records:
            try:
                records.append((str(path), json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError) as error:
                raise PainterlyError(f"cannot read {path}: {error}") from None
        results = combine(records)
    except (PainterlyError, KeyError) as error:
        print(f"combine: {error}", file=sys.stderr)
        return 2
    publish(results, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
