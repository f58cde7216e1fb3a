"""Dataset audit: counts, patient leakage, duplicates, unreadable files, geometry, split size.

``python -m data.audit [--data ROOT] [--out DIR] [--near-threshold 0.99]`` prints a
summary (naming the files it skipped or could not decode) and writes ``audit.json``,
``duplicates.csv``, ``shared_patients.csv`` and ``skipped_files.csv`` into ``DIR``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data.auditing import SHOW_SKIPPED, AuditConfig, audit_dataset, skipped_files, write_audit
from data.errors import ToolkitError
from stats.intervals import split_size_warning


def default_data_root() -> Path:
    """The sample bundled with the toolkit (``data/sample``)."""
    return Path(__file__).resolve().parent / "sample"


def format_skipped(audit: dict, root: str | Path, limit: int = SHOW_SKIPPED) -> list[str]:
    """Lines naming the files left out (up to ``limit``), then where the full list is."""
    skipped = skipped_files(audit)
    if skipped.empty:
        return []
    lines = [f"  {Path(root) / row.image_id}: {row.reason}" for row in skipped.head(limit).itertuples()]
    if len(skipped) > limit:
        where = audit.get("skipped_files_csv", "skipped_files.csv")
        lines.append(f"  ... and {len(skipped) - limit} more; the full list is in {where}")
    return lines


def format_summary(audit: dict) -> str:
    """Human-readable multi-line summary of an audit dict (names the files it left out)."""
    lines = [f"dataset {audit['root']}: {audit['n_images']} images"]
    for split, row in audit["counts"].items():
        lines.append(f"  {split:5s} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    p, d = audit["patients"], audit["duplicates"]
    lines.append(f"patients: {p['n_patients']}; shared across splits: {p['shared_across_splits']}")
    lines.append(f"duplicates: {d['exact_pairs']} exact pairs, {d['near_pairs']} near pairs "
                 f"(thumbnail correlation >= {d['near_threshold']}); {d['cross_split_pairs']} pairs cross splits "
                 f"({d['cross_split_label_conflicts']} with conflicting labels)")
    s = audit["skipped"]
    lines.append(f"skipped: {s['hidden']} hidden, {s['not_image']} non-image, {s['unreadable']} unreadable headers; "
                 f"{len(audit['unreadable'])} failed to decode")
    lines += format_skipped(audit, audit["root"])
    for split, g in audit["geometry"].items():
        lines.append(f"  {split:5s} width {g['width']['min']}-{g['width']['max']} height "
                     f"{g['height']['min']}-{g['height']['max']} channels {g['channels']} "
                     f"224x224 share {100 * g['share_224x224']:.0f}%")
    lines += [f"WARNING: {w}" for w in audit["warnings"]]
    return "\n".join(lines)


def run(cfg: AuditConfig) -> dict:
    """Audit ``cfg.data``, add the small-split warnings, write everything into ``cfg.out``; returns the audit."""
    result = audit_dataset(cfg)
    result.audit["warnings"] = [w for s, n in result.audit["split_sizes"].items() if (w := split_size_warning(s, n))]
    return write_audit(result, cfg.out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(default_data_root()), help="dataset root (default: bundled sample)")
    parser.add_argument("--out", default="runs/audit", help="output folder for audit.json")
    parser.add_argument("--near-threshold", type=float, default=0.99,
                        help="thumbnail correlation at or above which two images are near duplicates")
    parser.add_argument("--workers", type=int, default=None, help="decode processes (default: all cores)")
    args = parser.parse_args(argv)
    try:
        if not 0.0 < args.near_threshold <= 1.0:
            raise ToolkitError(f"--near-threshold must be in (0, 1], got {args.near_threshold}")
        audit = run(AuditConfig(data=args.data, out=args.out, near_threshold=args.near_threshold,
                                workers=args.workers))
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(audit))
    print(f"wrote {Path(args.out) / 'audit.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
