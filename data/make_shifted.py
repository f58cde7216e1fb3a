"""Make a synthetic "external" set from a folder by a known transformation (lower contrast + blur).

``python -m data.make_shifted --src ../shared/data/chest_xray --subsets test --out /tmp/shifted --contrast 0.6 --blur 0.01``

Each film is decoded (:func:`data.io.load_xray`), its contrast scaled about its own mean
(``m + contrast * (x - m)``), blurred with a Gaussian of sigma = ``blur`` x its short
side, and written as an 8-bit PNG under the same class folders (flat layout
``OUT/{NORMAL,PNEUMONIA}/``). A known shift with a known size: the domain-shift
analysis should find it on the contrast and blur metrics.
"""

from __future__ import annotations

import argparse
import sys

from data.errors import ToolkitError
from data.shifting import make_shifted


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.make_shifted", description=__doc__.splitlines()[0])
    p.add_argument("--src", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--subsets", default=None, help="split layout: comma-separated train,valid,test (default all)")
    p.add_argument("--contrast", type=float, default=0.6)
    p.add_argument("--blur", type=float, default=0.01, help="Gaussian sigma as a fraction of the short side")
    p.add_argument("--limit-per-class", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    try:
        subsets = tuple(s.strip() for s in a.subsets.split(",")) if a.subsets else None
        n = make_shifted(a.src, a.out, contrast=a.contrast, blur=a.blur, subsets=subsets,
                         limit_per_class=a.limit_per_class, seed=a.seed)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} shifted films to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
