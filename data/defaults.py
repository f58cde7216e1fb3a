"""Defaults of a config dataclass, read by the command-line parsers so each default is written once."""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Callable


def field_default(cls: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls`` (its ``default_factory()`` when it has one).

    Raises:
        KeyError: ``cls`` has no field ``name`` or the field has no default (a parser bug).
    """
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    for f in fields(cls):
        if f.name == name:
            if f.default_factory is not MISSING:
                return f.default_factory()
            if f.default is not MISSING:
                return f.default
            raise KeyError(f"{cls.__name__}.{name} has no default")
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def defaults_of(cls: type) -> Callable[[str], Any]:
    """``d = defaults_of(Config)``; ``d("seed")`` is ``Config``'s default seed."""
    return lambda name: field_default(cls, name)
