"""The one place the toolkit touches Captum's private API.

``captum.attr._utils.approximation_methods.SUPPORTED_METHODS`` lists the path
integral rules Integrated Gradients accepts (``riemann_*``, ``gausslegendre``);
Captum exports no public constant for it. If Captum moves it, importing this
module fails with a message naming it, and ``tests/test_upstream_adapters.py``
fails loudly.
"""

from __future__ import annotations

try:
    from captum.attr._utils.approximation_methods import SUPPORTED_METHODS
except ImportError as exc:  # pragma: no cover - only when captum moves its private API
    raise ImportError(
        "captum.attr._utils.approximation_methods.SUPPORTED_METHODS is gone (private API used by "
        f"xai.captum_compat); pin captum or update the adapter: {exc}"
    ) from exc

__all__ = ["SUPPORTED_METHODS"]
