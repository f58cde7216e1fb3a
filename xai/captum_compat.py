"""The one place the toolkit touches Captum's private API.

``SUPPORTED_METHODS`` lists the path-integral rules Integrated Gradients accepts
(``riemann_*``, ``gausslegendre``); Captum exports no public constant for it.
"""

from __future__ import annotations

from data.upstream import private_import

SUPPORTED_METHODS = private_import("captum.attr._utils.approximation_methods", "SUPPORTED_METHODS", __name__)
