"""Reading uploaded tables (CSV, JSON, JSON Lines) into rows, with errors that name the place.

Rows are numbered from 1, the header excluded, so "row 2" is the second data row of a CSV
and the second object of a JSON list or JSON Lines file.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class RowError:
    row: int | None
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.problem}" if where else self.problem


@dataclass
class ImportFailed(Exception):
    """An import refused as a whole; nothing was saved."""

    errors: list[RowError] = field(default_factory=list)
    filename: str = ""

    MAX_SHOWN = 20

    def __str__(self) -> str:
        head = f"{self.filename}: " if self.filename else ""
        shown = [str(e) for e in self.errors[: self.MAX_SHOWN]]
        more = len(self.errors) - len(shown)
        tail = f"\n... and {more} more" if more > 0 else ""
        return f"{head}import refused, nothing saved ({len(self.errors)} problem(s)):\n" + "\n".join(shown) + tail

    def as_dict(self) -> dict:
        return {
            "detail": "Import refused; nothing was saved.",
            "errors": [{"row": e.row, "column": e.column, "problem": e.problem} for e in self.errors],
        }


@dataclass
class Table:
    columns: list[str]
    rows: list[dict]  # each row: column -> str (or JSON value for JSON input)


def fail(problem: str, row: int | None = None, column: str | None = None):
    raise ImportFailed([RowError(row, column, problem)])


def read_table(data: bytes, filename: str, max_bytes: int | None = None) -> Table:
    """Parse ``data`` by the file's extension (.csv, .json, .jsonl/.ndjson). UTF-8, BOM allowed."""
    limit = settings.IMPORT_MAX_BYTES if max_bytes is None else max_bytes
    if len(data) > limit:
        fail(f"the file is {len(data):,} bytes; the limit is {limit:,} bytes (IMPORT_MAX_BYTES)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        fail(f"the file is not UTF-8: undecodable byte 0x{data[exc.start]:02x} on line {line} of the file; "
             "save it as UTF-8 and try again")
    if "\x00" in text:
        fail("the file contains NUL bytes; is it a binary file?")
    lower = filename.lower()
    if lower.endswith(".csv") or lower.endswith(".tsv"):
        return _read_csv(text, delimiter="\t" if lower.endswith(".tsv") else ",")
    if lower.endswith(".jsonl") or lower.endswith(".ndjson"):
        return _read_jsonl(text)
    if lower.endswith(".json"):
        return _read_json(text)
    fail(f"unsupported file type '{filename}': use .csv, .json or .jsonl")


def _clean_header(columns: list[str]) -> list[str]:
    cleaned = [(c or "").strip() for c in columns]
    seen: set[str] = set()
    for c in cleaned:
        if c == "":
            fail("the header has an empty column name")
        if c in seen:
            fail(f"the header repeats the column '{c}'")
        seen.add(c)
    return cleaned


def _read_csv(text: str, delimiter: str) -> Table:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        fail("the file is empty: expected a header row")
    except csv.Error as exc:
        fail(f"the header is not valid CSV ({exc})")
    columns = _clean_header(header)
    rows: list[dict] = []
    errors: list[RowError] = []
    number = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(number + 1, None, f"not valid CSV ({exc})"))
            break
        if not values or all(v.strip() == "" for v in values):
            continue  # blank lines are not rows
        number += 1
        if len(values) != len(columns):
            errors.append(RowError(number, None, f"has {len(values)} fields, the header has {len(columns)}"))
            continue
        rows.append(dict(zip(columns, values)))
    if errors:
        raise ImportFailed(errors)
    return Table(columns, rows)


MAX_JSON_DEPTH = 20  # rows are flat records; a little nesting is allowed in metadata


def _json_loads(text: str, line: int | None = None):
    """json.loads that turns absurd nesting (a RecursionError) into a clear refusal."""
    try:
        return json.loads(text)
    except RecursionError:
        where = f" on line {line}" if line else ""
        fail(f"the JSON is nested too deeply{where}; rows must be flat objects")


def _check_json_values(obj, number: int) -> None:
    """Refuse NUL characters (PostgreSQL cannot store them) and deep nesting in a row."""
    stack = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            fail(f"a value is nested more than {MAX_JSON_DEPTH} levels deep", row=number)
        if isinstance(value, str):
            if "\x00" in value:
                fail("a value contains a NUL character (\\u0000)", row=number)
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in str(key):
                    fail("a column name contains a NUL character (\\u0000)", row=number)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _json_row(obj, number: int) -> dict:
    if not isinstance(obj, dict):
        fail(f"expected a JSON object, got {type(obj).__name__}", row=number)
    _check_json_values(obj, number)
    return {str(k).strip(): v for k, v in obj.items()}


def _read_json(text: str) -> Table:
    try:
        doc = _json_loads(text)
    except json.JSONDecodeError as exc:
        fail(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
    if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
        doc = doc["rows"]
    if not isinstance(doc, list):
        fail('expected a JSON list of objects (or {"rows": [...]})')
    rows = [_json_row(obj, i) for i, obj in enumerate(doc, start=1)]
    return Table(_columns_of(rows), rows)


def _read_jsonl(text: str) -> Table:
    rows = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = _json_loads(line, line_number)
        except json.JSONDecodeError as exc:
            fail(f"not valid JSON ({exc.msg}) on line {line_number}", row=len(rows) + 1)
        rows.append(_json_row(obj, len(rows) + 1))
    return Table(_columns_of(rows), rows)


def _columns_of(rows: list[dict]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    return list(columns)


def cell(row: dict, column: str) -> str:
    """A cell as stripped text ('' when missing or null)."""
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value).strip()


def require_columns(table: Table, required: list[str], what: str) -> None:
    missing = [c for c in required if c not in table.columns]
    if missing:
        fail(f"{what} needs the column(s) {', '.join(repr(c) for c in missing)}; "
             f"the file has {', '.join(repr(c) for c in table.columns) or 'none'}")
    if not table.rows:
        fail("the file has no data rows")


TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"", "0", "false", "no", "n", "f"}


def parse_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    return None


def parse_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value
