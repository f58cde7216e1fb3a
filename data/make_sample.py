"""Build the small real sample bundled with the toolkit from a full copy of the dataset.

``python -m data.make_sample --data ROOT --out data/sample [--train-per-class 120] [--test-per-class 60]
[--max-bytes 6000000]``

Files are copied byte for byte. The whole ``val`` folder is kept (the study's 16
images); train and test images are drawn at random (seeded), and a patient is
never drawn into two splits of the sample. The sample must stay under ``--max-bytes``
(it ships inside the package); a draw that would exceed it is refused before copying.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd

from data.errors import ToolkitError
from data.sampling import FOLDER_OF_SPLIT, choose_sample
from data.scan import scan_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.make_sample", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="full dataset root")
    parser.add_argument("--out", default="data/sample")
    parser.add_argument("--train-per-class", type=int, default=120)
    parser.add_argument("--test-per-class", type=int, default=60)
    parser.add_argument("--max-bytes", type=int, default=6_000_000, help="refuse a sample larger than this")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        table = scan_dataset(args.data)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sample = choose_sample(table, args.train_per_class, args.test_per_class, args.seed)
    root, out = Path(table.attrs["root"]), Path(args.out)
    n_bytes = sum((root / p).stat().st_size for p in sample["path"])
    if n_bytes > args.max_bytes:
        print(f"error: the draw holds {n_bytes} bytes, more than --max-bytes {args.max_bytes}; "
              "draw fewer images per class", file=sys.stderr)
        return 2
    for row in sample.itertuples():
        target = out / FOLDER_OF_SPLIT[row.split] / row.label / Path(row.path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / row.path, target)
    manifest = root / "MANIFEST.csv"
    if manifest.exists():
        full = pd.read_csv(manifest)
        full["image_id"] = full["split"] + "/" + full["label"] + "/" + full["filename"]
        keep = full[full["image_id"].isin(sample["image_id"])].drop(columns="image_id")
        keep.to_csv(out / "MANIFEST.csv", index=False)
    print(f"wrote {len(sample)} images ({n_bytes / 1e6:.2f} MB) to {out}: " + ", ".join(
        f"{s}={n}" for s, n in sample["split"].value_counts().sort_index().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
