"""Model instances from written SQL, converted exactly as the ORM converts its own rows.

A few statements on the rater's hot path are written out as SQL (services/assignment.py,
services/judging.py, rater_session.py): composing and compiling them through the ORM took
more CPU than everything else in those requests, measured with ``bench/serve.py``. What the
ORM does on the way back is kept here: every value goes through the database backend's and
the field's own converters (SQLite's text timestamps, JSON, UUIDs), and instances are built
with ``Model.from_db``, so a field that was not read is deferred and loads on access, as
with ``QuerySet.only()``. The statements stay with their callers, in plain sight, except the
one-row UPDATE, which is the same everywhere (``update``).
"""

from __future__ import annotations

from django.db import connection


class Columns:
    """Some (by default all) concrete fields of ``model`` under a table alias in written SQL.

    ``columns.sql`` is the select list; ``columns.take(row, start)`` builds the instance from
    the row's values from ``start`` on (None when its primary key is NULL: an outer join
    that found nothing) and returns it with the index after its columns.
    """

    def __init__(self, model, alias: str, names: tuple[str, ...] | None = None):
        fields = model._meta.concrete_fields
        if names is not None:
            missing = set(names) - {f.name for f in fields}
            if missing:
                raise ValueError(f"{model.__name__} has no concrete field {', '.join(sorted(missing))}")
            fields = [f for f in fields if f.name in names or f.primary_key]
        self.model, self.alias, self.fields = model, alias, fields
        self.attnames = [f.attname for f in fields]
        self.pk_index = next(i for i, f in enumerate(fields) if f.primary_key)
        self.sql = ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields)
        self._converters = None

    def take(self, row, start: int = 0):
        end = start + len(self.fields)
        values = row[start:end]
        if values[self.pk_index] is None:
            return None, end
        if self._converters is None:
            self._converters = [_converters(field.get_col(self.alias)) for field in self.fields]
        values = [_convert(value, *conv) for value, conv in zip(values, self._converters)]
        return self.model.from_db(connection.alias, self.attnames, values), end


def value(model, name: str, raw):
    """One value of ``model.name`` read by written SQL (e.g. an aggregate of that column)."""
    return _convert(raw, *_converters(model._meta.get_field(name).get_col(model._meta.db_table)))


def param(model, name: str, python_value):
    """A Python value as the database takes it for ``model.name`` (e.g. a timestamp for SQLite)."""
    return model._meta.get_field(name).get_db_prep_value(python_value, connection)


def update(model, pk, **fields) -> None:
    """Set ``fields`` of one row, each value prepared by its field as ``QuerySet.update`` would."""
    meta = model._meta
    columns = ", ".join(f"{connection.ops.quote_name(meta.get_field(name).column)} = %s" for name in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {meta.db_table} SET {columns} WHERE {meta.pk.column} = %s",
                       [*(param(model, name, v) for name, v in fields.items()), pk])


def _converters(col):
    return connection.ops.get_db_converters(col) + col.get_db_converters(connection), col


def _convert(raw, converters, col):
    for convert in converters:
        raw = convert(raw, col, connection)
    return raw
