"""Import a name from a third party's private API, failing with a message that says what moved.

Private names (a leading underscore, or a module under ``_utils``) can change in
any release. Each one the toolkit needs is imported once, in one small adapter
module (``training.fastai_compat``, ``xai.captum_compat``), through
:func:`private_import`; ``tests/test_upstream_adapters.py`` checks each still
exists and behaves as assumed.
"""

from __future__ import annotations

import importlib


def private_import(module: str, name: str, adapter: str):
    """``from module import name``, or ImportError naming the upstream name and the adapter to update."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"{module}.{name} is gone (private API used by {adapter}); pin the upstream package "
                          f"to a version that has it or update {adapter}: {exc}") from exc
