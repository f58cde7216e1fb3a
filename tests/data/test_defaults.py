"""data.defaults: the one place command-line defaults are read from."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from data.defaults import defaults_of, field_default


@dataclass(frozen=True)
class _Cfg:
    needed: int
    plain: int = 3
    made: list = field(default_factory=lambda: [1, 2])


def test_field_default_reads_plain_and_factory_defaults():
    assert field_default(_Cfg, "plain") == 3
    d = defaults_of(_Cfg)
    assert d("made") == [1, 2] and d("made") is not d("made")  # a fresh object each time, as the factory gives


def test_field_default_fails_loudly_on_a_parser_bug():
    with pytest.raises(KeyError, match="no default"):
        field_default(_Cfg, "needed")
    with pytest.raises(KeyError, match="no field"):
        field_default(_Cfg, "missing")
    with pytest.raises(TypeError):
        field_default(int, "real")
