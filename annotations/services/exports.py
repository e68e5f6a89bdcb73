"""Exports: every raw judgment with its provenance (CSV, JSONL, Parquet), and report tables.

One row per judgment. Rows are produced by a generator over a chunked queryset
(``.iterator(chunk_size=...)``, a server-side cursor on PostgreSQL) and written as they come:
CSV and JSONL line by line, Parquet one row group at a time through ``pyarrow.ParquetWriter``.
Only one chunk of judgments is in memory at any time, plus the study's candidates (text left
out) for their provenance, so a million-judgment export runs in constant memory per row.

Raters appear under their stable pseudonym. The external id (a crowd platform's worker id)
is personal data: it is added only when ``with_external_ids=True``, which callers grant to
admins only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from annotations.models import Candidate, Judgment, Study

FORMATS = ("csv", "jsonl", "parquet")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
CHUNK_SIZE = 5000
ROW_GROUP_SIZE = 50_000

# Column name -> Arrow type. The order is the column order of every format.
EXPORT_SCHEMA: list[tuple[str, pa.DataType]] = [
    ("study", pa.string()),
    ("task", pa.string()),
    ("judgment_id", pa.int64()),
    ("panel", pa.string()),
    ("panel_kind", pa.string()),
    ("rater", pa.string()),
    ("rater_excluded", pa.bool_()),
    ("rater_exclusion_reason", pa.string()),
    ("rater_simulated", pa.bool_()),
    ("criterion", pa.string()),
    ("comparison_id", pa.int64()),
    ("candidate_id", pa.int64()),
    ("candidate_a_id", pa.int64()),
    ("candidate_b_id", pa.int64()),
    ("candidate_external_id", pa.string()),
    ("candidate_a_external_id", pa.string()),
    ("candidate_b_external_id", pa.string()),
    ("brief_id", pa.int64()),
    ("brief_external_id", pa.string()),
    ("condition", pa.string()),
    ("condition_a", pa.string()),
    ("condition_b", pa.string()),
    ("left_is_a", pa.bool_()),
    ("shown_left_candidate_id", pa.int64()),
    ("choice", pa.string()),
    ("choice_shown", pa.string()),
    ("value", pa.float64()),
    ("strength", pa.int64()),
    ("rationale", pa.string()),
    ("seconds", pa.float64()),
    ("too_fast", pa.bool_()),
    ("attention_check", pa.bool_()),
    ("expected_choice", pa.string()),
    ("attention_passed", pa.bool_()),
    ("source", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("provenance", pa.string()),
    ("provenance_a", pa.string()),
    ("provenance_b", pa.string()),
]
EXTERNAL_ID_COLUMN = ("rater_external_id", pa.string())
PROVENANCE_COLUMNS = ("provenance", "provenance_a", "provenance_b")


def export_columns(*, with_external_ids: bool = False) -> list[tuple[str, pa.DataType]]:
    columns = list(EXPORT_SCHEMA)
    if with_external_ids:
        columns.insert(columns.index(("rater", pa.string())) + 1, EXTERNAL_ID_COLUMN)
    return columns


# --- rows ----------------------------------------------------------------------------------

_FIELDS = (
    "id", "criterion", "choice", "value", "strength", "rationale", "seconds", "too_fast",
    "attention_passed", "source", "created_at",
    "assignment__left_is_a", "assignment__comparison_id", "assignment__candidate_id",
    "assignment__comparison__candidate_a_id", "assignment__comparison__candidate_b_id",
    "assignment__comparison__attention_check", "assignment__comparison__expected_choice",
    "assignment__rater__pseudonym", "assignment__rater__external_id", "assignment__rater__excluded",
    "assignment__rater__exclusion_reason", "assignment__rater__simulated",
    "assignment__rater__panel__name", "assignment__rater__panel__kind",
)


def _candidate_lookup(study: Study) -> dict[int, tuple]:
    """id -> (external id, brief id, brief external id, condition name, provenance, is decoy).

    Loaded once per export (texts left out); judgments then carry only candidate ids.
    """
    rows = Candidate.objects.filter(study=study).values_list(
        "id", "external_id", "brief_id", "brief__external_id", "condition__name", "provenance", "decoy_of_id"
    )
    return {cid: (ext, bid, bext, cond, prov or {}, decoy is not None or cond is None)
            for cid, ext, bid, bext, cond, prov, decoy in rows.iterator(chunk_size=CHUNK_SIZE)}


def _shown(choice: str, left_is_a: bool) -> str:
    if choice in ("a", "b"):
        return "left" if (choice == "a") == left_is_a else "right"
    return choice  # "tie" or "" (a rating)


def judgment_export_rows(*, study: Study, with_external_ids: bool = False,
                         chunk_size: int = CHUNK_SIZE) -> Iterator[dict]:
    """One dict per judgment of the study, in judgment id order (see ``EXPORT_SCHEMA``).

    Provenance values are dicts; the writers encode them (JSON text in CSV and Parquet).
    """
    candidates = _candidate_lookup(study)
    none = (None, None, None, None, {}, False)
    qs = (Judgment.objects.filter(assignment__rater__panel__study=study)
          .order_by("id").values_list(*_FIELDS))
    for (jid, criterion, choice, value, strength, rationale, seconds, too_fast, passed, source, created_at,
         left_is_a, comparison_id, candidate_id, cand_a, cand_b, comp_check, expected,
         pseudonym, external_id, excluded, reason, simulated, panel, panel_kind) in qs.iterator(chunk_size=chunk_size):
        row = {"study": study.slug, "judgment_id": jid, "panel": panel, "panel_kind": panel_kind,
               "rater": pseudonym}
        if with_external_ids:
            row["rater_external_id"] = external_id
        row |= {"rater_excluded": excluded, "rater_exclusion_reason": reason, "rater_simulated": simulated,
                "criterion": criterion}
        if comparison_id is not None:
            a, b = candidates.get(cand_a, none), candidates.get(cand_b, none)
            if comp_check and passed is None and choice:
                passed = choice == expected  # imported judgments: derived from the expected side
            row |= {
                "task": "pairwise", "comparison_id": comparison_id, "candidate_id": None,
                "candidate_a_id": cand_a, "candidate_b_id": cand_b, "candidate_external_id": None,
                "candidate_a_external_id": a[0], "candidate_b_external_id": b[0],
                "brief_id": a[1], "brief_external_id": a[2],
                "condition": None, "condition_a": a[3], "condition_b": b[3],
                "left_is_a": left_is_a, "shown_left_candidate_id": cand_a if left_is_a else cand_b,
                "choice": choice, "choice_shown": _shown(choice, left_is_a),
                "attention_check": comp_check, "expected_choice": expected or None,
                "provenance": None, "provenance_a": a[4], "provenance_b": b[4],
            }
        else:
            c = candidates.get(candidate_id, none)
            row |= {
                "task": "rating", "comparison_id": None, "candidate_id": candidate_id,
                "candidate_a_id": None, "candidate_b_id": None, "candidate_external_id": c[0],
                "candidate_a_external_id": None, "candidate_b_external_id": None,
                "brief_id": c[1], "brief_external_id": c[2],
                "condition": c[3], "condition_a": None, "condition_b": None,
                "left_is_a": None, "shown_left_candidate_id": None,
                "choice": choice or None, "choice_shown": None,
                "attention_check": c[5], "expected_choice": None,
                "provenance": c[4], "provenance_a": None, "provenance_b": None,
            }
        row |= {"value": value, "strength": strength, "rationale": rationale, "seconds": seconds,
                "too_fast": too_fast, "attention_passed": passed if row["attention_check"] else None,
                "source": source, "created_at": created_at}
        yield row


# --- CSV ------------------------------------------------------------------------------------

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """Text cells that a spreadsheet would treat as a formula get a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, dict):
        return csv_safe(json.dumps(value, sort_keys=True, ensure_ascii=False))
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.astimezone(dt_timezone.utc).isoformat()
    return csv_safe(value)


class _Line:
    """A write target for csv.writer that hands back what was written."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def write(self, s: str) -> None:
        self.buffer.write(s)

    def take(self) -> str:
        out = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return out


def csv_chunks(rows: Iterable[dict], columns: list[str], *, lines_per_chunk: int = 500) -> Iterator[str]:
    """CSV text in pieces of a few hundred lines (header first), for files and HTTP streams."""
    line = _Line()
    writer = csv.writer(line, lineterminator="\r\n")  # RFC 4180; also quotes cells holding a bare CR
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
        n += 1
        if n % lines_per_chunk == 0:
            yield line.take()
    yield line.take()


def records_csv_chunks(records: Iterable[dict]) -> Iterator[str]:
    """CSV of flat report records: list values become ``<name>_low`` / ``<name>_high`` columns,
    dict values ``<name>_<key>`` columns."""
    flat = [_flatten(r) for r in records]
    columns: list[str] = []
    for r in flat:
        columns += [k for k in r if k not in columns]
    # An interval that is null in one record and a pair in another: keep only _low / _high.
    columns = [c for c in columns if not (f"{c}_low" in columns and all(r.get(c) is None for r in flat))]
    return csv_chunks(flat, columns)


def _flatten(record: dict) -> dict:
    out = {}
    for key, value in record.items():
        if isinstance(value, (list, tuple)) and len(value) == 2:
            out[f"{key}_low"], out[f"{key}_high"] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                out[f"{key}_{k}"] = v
        elif isinstance(value, (list, tuple)):
            out[key] = json.dumps(value)
        else:
            out[key] = value
    return out


# --- JSONL ----------------------------------------------------------------------------------


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.astimezone(dt_timezone.utc).isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def jsonl_chunks(rows: Iterable[dict], columns: list[str], *, lines_per_chunk: int = 500) -> Iterator[str]:
    """One JSON object per line; provenance stays a nested object."""
    lines = []
    for row in rows:
        lines.append(json.dumps({c: row.get(c) for c in columns}, default=_json_default, ensure_ascii=False))
        if len(lines) >= lines_per_chunk:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


# --- Parquet --------------------------------------------------------------------------------


def write_parquet(rows: Iterable[dict], target: str | Path | IO[bytes], columns: list[tuple[str, pa.DataType]],
                  *, row_group_size: int = ROW_GROUP_SIZE) -> int:
    """Write rows to Parquet one row group at a time. Returns the number of rows."""
    schema = pa.schema(columns)
    names = [name for name, _ in columns]
    n = 0
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        batch: dict[str, list] = {name: [] for name in names}
        size = 0
        for row in rows:
            for name in names:
                value = row.get(name)
                if name in PROVENANCE_COLUMNS and value is not None:
                    value = json.dumps(value, sort_keys=True, ensure_ascii=False)
                batch[name].append(value)
            size += 1
            if size >= row_group_size:
                writer.write_table(pa.table(batch, schema=schema))
                n += size
                batch, size = {name: [] for name in names}, 0
        if size or n == 0:
            writer.write_table(pa.table(batch, schema=schema))
            n += size
    return n


# --- entry points ---------------------------------------------------------------------------


def judgments_export(*, study: Study, fmt: str, target: str | Path | IO, with_external_ids: bool = False) -> int:
    """Write every judgment of the study to ``target`` (a path, or a binary file for Parquet
    and a text file for CSV / JSONL). Returns the number of rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
    columns = export_columns(with_external_ids=with_external_ids)
    counter = _Counter(judgment_export_rows(study=study, with_external_ids=with_external_ids))
    if fmt == "parquet":
        return write_parquet(counter, target, columns)
    chunks = (csv_chunks if fmt == "csv" else jsonl_chunks)(counter, [name for name, _ in columns])
    if isinstance(target, (str, Path)):
        with open(target, "w", encoding="utf-8", newline="") as f:
            f.writelines(chunks)
    else:
        for chunk in chunks:
            if chunk:
                target.write(chunk)
    return counter.n


def judgments_export_stream(*, study: Study, fmt: str, with_external_ids: bool = False) -> Iterator[str]:
    """CSV or JSONL text pieces for a streamed HTTP response."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"format '{fmt}' cannot be streamed; use csv or jsonl")
    names = [name for name, _ in export_columns(with_external_ids=with_external_ids)]
    rows = judgment_export_rows(study=study, with_external_ids=with_external_ids)
    return (csv_chunks if fmt == "csv" else jsonl_chunks)(rows, names)


class _Counter:
    def __init__(self, rows: Iterable[dict]) -> None:
        self.rows, self.n = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.n += 1
            yield row


REPORT_TABLES = ("ranking", "agreement", "correlation", "model_judge", "position_bias", "raters")


def report_table_csv(*, report: dict, section: str) -> str:
    """One section of the report JSON as CSV text (intervals split into _low / _high)."""
    if section not in REPORT_TABLES:
        raise ValueError(f"unknown report table '{section}': use one of {', '.join(REPORT_TABLES)}")
    records = report.get(section) or []
    if isinstance(records, dict):
        records = [records]
    return "".join(records_csv_chunks(records))


def report_json_text(*, report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False)
