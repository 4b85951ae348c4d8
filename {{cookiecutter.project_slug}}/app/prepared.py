"""A SELECT compiled once, to run on a bare driver connection.

The hot-path reader (:mod:`app.reader`) sends its statements straight to the
database driver, past the engine. This keeps what the engine would have done
with them: the SQL of the engine's own dialect, and its type conversions on
the way in and out, so that a row reads the same either way.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import Select
from sqlalchemy.engine import Dialect

if TYPE_CHECKING:
    # Any SELECT, whatever its columns (SQLAlchemy types them one by one).
    AnySelect: TypeAlias = Select[*tuple[Any, ...]]

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A statement compiled for one dialect, with its type conversions."""

    sql: str
    compiled: Any  # sqlalchemy.sql.compiler.SQLCompiler
    order: tuple[tuple[str, _Processor], ...]
    results: tuple[_Processor, ...]
    row: Callable[..., Any]
    # The values of the binds that have one; None if the statement needs
    # construct_params (renamed or expanding binds).
    fixed: dict[str, Any] | None

    @classmethod
    def of(cls, statement: AnySelect, dialect: Dialect) -> Prepared:
        """Compile ``statement`` for ``dialect`` (a positional paramstyle)."""
        compiled = statement.compile(dialect=dialect)
        order = tuple(
            (name, _bind_processor(compiled.binds[name].type, dialect))
            for name in compiled.positiontup or ()
        )
        columns = list(statement.selected_columns)
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in columns
        )
        row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        return cls(str(compiled), compiled, order, results, row._make, _fixed(compiled))

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """Return the positional parameters for ``params``, converted."""
        if self.fixed is None:
            bound = self.compiled.construct_params(params)
        else:
            # What construct_params would give, without its general work on
            # every request: the caller's values, and the statement's own.
            bound = {**self.fixed, **params}
        return tuple(
            bound[name] if process is None else process(bound[name])
            for name, process in self.order
        )

    def rows(self, raw: list[Any]) -> list[Any]:
        """Convert the driver's rows; each has the columns' names as attributes."""
        return [
            self.row(
                value if process is None else process(value)
                for value, process in zip(values, self.results, strict=True)
            )
            for values in raw
        ]


class Statements:
    """The statements of one reader, each compiled on first use and kept."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._prepared: dict[AnySelect, Prepared] = {}

    def get(self, statement: AnySelect) -> Prepared:
        """Return ``statement`` compiled."""
        prepared = self._prepared.get(statement)
        if prepared is None:
            prepared = Prepared.of(statement, self._dialect)
            self._prepared[statement] = prepared
        return prepared


def _fixed(compiled: Any) -> dict[str, Any] | None:
    binds = {name: compiled.binds[name] for name in compiled.positiontup or ()}
    if compiled.escaped_bind_names or any(
        bind.expanding or bind.literal_execute or bind.callable
        for bind in binds.values()
    ):
        return None
    # Keyed as construct_params keys them: an anonymous bind by its rendered name.
    return {name: bind.value for name, bind in binds.items() if not bind.required}


def _bind_processor(type_: Any, dialect: Dialect) -> _Processor:
    processor: _Processor = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor
