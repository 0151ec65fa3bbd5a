"""The items of a batch: every content × style pair of two folders or globs, or the rows of
a CSV manifest, each with its options and the name of its output.

A manifest has a header row. ``content`` is required; ``style`` holds one style image or
several separated by ``;`` (blended by ``style_blend``), and may be empty when a ``mask``
column names the styles; ``output`` optionally names the output file (inside the output
folder). Every other column is an option, named as its flag (``style-weight``) or its field
(``style_weight``); an empty cell leaves the batch's own value, a cell replaces it, and
``mask`` cells hold several ``MASK:STYLE`` separated by ``;``. Relative paths are read from
the manifest's folder. A manifest is checked whole before anything runs: a row that cannot
run is refused with its line number; a missing or damaged image is not (the batch reports it
as that item's failure and goes on).
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painterly.config.options import Options, option_fields
from painterly.errors import PainterlyError, printable

IMAGE_SUFFIXES = frozenset((".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"))
"""What a folder of contents or styles is read for (case-insensitive)."""

STYLE_SEPARATOR = ";"
"""Between the style images (and the masks) of one manifest cell."""

MAX_ITEMS = 100_000
"""More items than this is refused: a glob that matched far more than meant."""

_FIXED_COLUMNS = ("content", "style", "output")
_LIST_OPTIONS = frozenset(f.name for f in option_fields() if f.metadata.get("action") == "append")


@dataclass(frozen=True)
class Item:
    """One stylisation of a batch: its inputs, its options and its output's file name.

    ``given`` is the option values as the user wrote them (the batch's flags with the row's
    cells over them), kept for the results log so a row can be rerun by hand; ``line`` is
    the manifest line it came from (None for a folder pair).
    """

    content: str
    styles: tuple[str, ...]
    options: Options
    output: str
    given: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None

    def where(self) -> str:
        """How the item is named in a message: its manifest line, else its output."""
        return f"line {self.line}" if self.line is not None else f"'{printable(self.output)}'"


def image_files(pattern: str, role: str) -> list[str]:
    """The images of a folder (its files with an image extension, sorted) or of a glob (its
    matching files, sorted); refused when there are none."""
    if os.path.isdir(pattern):
        found = sorted(
            str(Path(pattern) / name)
            for name in os.listdir(pattern)
            if Path(name).suffix.lower() in IMAGE_SUFFIXES and (Path(pattern) / name).is_file()
        )
        if not found:
            raise PainterlyError(f"the {role} folder '{printable(pattern)}' holds no image files")
        return found
    found = sorted(path for path in glob.glob(pattern) if os.path.isfile(path))
    if not found:
        what = "no file" if glob.has_magic(pattern) else "no such file or folder"
        raise PainterlyError(f"the {role} '{printable(pattern)}' matches {what}")
    return found


def output_name(content: str, styles: Sequence[str], suffix: str) -> str:
    """``<content>--<style>.png`` (styles joined by ``+``; ``masks`` when only masks name them)."""
    styles_part = "+".join(Path(style).stem for style in styles) or "masks"
    return f"{Path(content).stem}--{styles_part}{suffix}"


def pair_items(
    contents: Sequence[str], styles: Sequence[str], given: Mapping[str, Any], suffix: str
) -> list[Item]:
    """Every content with every style, all with the batch's options."""
    _check_count(len(contents) * len(styles))
    options = Options.build(**given)
    return [
        Item(content, (style,), options, output_name(content, (style,), suffix), dict(given))
        for content in contents
        for style in styles
    ]


def manifest_items(path: str, given: Mapping[str, Any], suffix: str) -> list[Item]:
    """The rows of the CSV manifest at ``path`` as items, the batch's options under each
    row's own (see the module's description)."""
    shown = printable(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = list(csv.reader(file))
    except FileNotFoundError:
        raise PainterlyError(f"the manifest '{shown}' does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise PainterlyError(f"the manifest '{shown}' cannot be read ({reason})") from None
    if not rows:
        raise PainterlyError(f"the manifest '{shown}' is empty; its first row names the columns")
    header = [name.strip() for name in rows[0]]
    options_of = _column_options(header, shown)
    folder = Path(path).parent
    items = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"the manifest '{shown}', line {number}"
        if len(row) > len(header):
            raise PainterlyError(f"{where} has {len(row)} cells for {len(header)} columns")
        cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
        items.append(_row_item(cells, options_of, folder, given, suffix, number, where))
    if not items:
        raise PainterlyError(f"the manifest '{shown}' has no rows after its header")
    _check_count(len(items))
    return items


def _column_options(header: list[str], shown: str) -> dict[str, str]:
    """Column → Options field, for the option columns; refuses unknown and repeated names."""
    fields = {f.name for f in option_fields()} | {"preset", "ratio"}
    if "content" not in header:
        raise PainterlyError(f"the manifest '{shown}' has no 'content' column")
    seen: dict[str, str] = {}
    for name in header:
        key = name.lstrip("-").replace("-", "_")
        if name in _FIXED_COLUMNS:
            key = name
        elif key not in fields:
            raise PainterlyError(
                f"the manifest '{shown}' has a column '{printable(name)}' that is not an option "
                "(columns are content, style, output and option names such as style_weight)"
            )
        if key in seen.values():
            raise PainterlyError(f"the manifest '{shown}' names '{printable(name)}' twice")
        seen[name] = key
    return {name: key for name, key in seen.items() if key not in _FIXED_COLUMNS}


def _row_item(
    cells: dict[str, str],
    options_of: dict[str, str],
    folder: Path,
    given: Mapping[str, Any],
    suffix: str,
    number: int,
    where: str,
) -> Item:
    def located(text: str) -> str:
        return text if os.path.isabs(text) else str(folder / text)

    content = cells.get("content", "")
    if not content:
        raise PainterlyError(f"{where} has no content image")
    cell = cells.get("style", "")
    styles = tuple(located(part.strip()) for part in cell.split(STYLE_SEPARATOR) if part.strip())
    values = dict(given)
    for column, key in options_of.items():
        text = cells.get(column, "")
        if not text:
            continue
        if key in _LIST_OPTIONS:
            values[key] = [
                _located_mask(part.strip(), located) for part in text.split(STYLE_SEPARATOR)
            ]
        else:
            values[key] = text
    try:
        options = Options.build(**values)
    except PainterlyError as error:
        raise PainterlyError(f"{where}: {error}") from None
    if not styles and not options.masks:
        raise PainterlyError(f"{where} has no style image (and no mask naming one)")
    output = cells.get("output", "") or output_name(content, styles, suffix)
    if output != os.path.basename(output) or output in (".", ".."):
        raise PainterlyError(
            f"{where}: the output '{printable(output)}' must be a file name, without a folder "
            "(outputs go in the batch's output folder)"
        )
    return Item(located(content), styles, options, output, values, number)


def _located_mask(text: str, located: Any) -> str:
    """A ``MASK:STYLE`` cell part with both paths read from the manifest's folder."""
    mask, colon, style = text.rpartition(":")
    return f"{located(mask)}:{located(style)}" if colon and mask else text


def _check_count(count: int) -> None:
    if count > MAX_ITEMS:
        raise PainterlyError(
            f"the batch has {count} items, more than the {MAX_ITEMS} a batch may have; split it"
        )
