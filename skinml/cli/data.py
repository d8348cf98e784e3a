"""`python -m skinml data scan|sizes DIR`: what a dataset folder holds and what is wrong in it."""

from __future__ import annotations

import argparse
import json
import sys

from skinml.errors import DataError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="scan a dataset folder, survey image sizes")
    sub = parser.add_subparsers(dest="data_command", required=True)

    scan = sub.add_parser("scan", help="labels, diagnoses, left-out counts, problems and the grouped split",
                          description="What a dataset folder holds, or several folders read as one "
                                      "(joined on the ISIC id: an image in two folders counts once).")
    scan.add_argument("dir", nargs="+", help="dataset folder(s) (any of the five layouts skinml reads)")
    scan.add_argument("--json", action="store_true", help="print one JSON object")
    scan.add_argument("--include-unknown", action="store_true",
                      help="also keep indeterminate and unknown labels (the GAN's policy)")
    scan.add_argument("--all-image-types", action="store_true",
                      help="keep clinical photos too (default: dermoscopic only)")
    scan.add_argument("--exclude", action="append", default=[], metavar="COLUMN=VALUE",
                      help="leave out images whose COLUMN equals VALUE, e.g. attribution=SONIC")
    scan.add_argument("--no-balance", action="store_true",
                      help="split all usable images instead of a balanced subsample")
    scan.add_argument("--seed", type=int, default=0, help="seed of the balance and the split")
    scan.set_defaults(func=run_scan)

    sizes = sub.add_parser("sizes", help="image-size survey (width x height counts)")
    sizes.add_argument("dir", help="dataset folder")
    sizes.add_argument("--json", action="store_true", help="print a JSON list")
    sizes.set_defaults(func=run_sizes)


def parse_exclude(items: list[str]) -> tuple[tuple[str, str], ...]:
    """["attribution=SONIC"] -> (("attribution", "SONIC"),), or a DataError."""
    pairs = []
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise DataError(f"--exclude wants COLUMN=VALUE (e.g. attribution=SONIC), not '{item}'.")
        pairs.append((column.strip(), value.strip()))
    return tuple(pairs)


def _progress(quiet: bool):
    if quiet:
        return None, lambda: None
    from skinml.progress import tqdm_progress

    return tqdm_progress(desc="checking images")


def run_scan(args: argparse.Namespace) -> int:
    from skinml.data.policy import DataPolicy, scan_dataset

    kw = {"dermoscopic_only": not args.all_image_types, "exclude": parse_exclude(args.exclude)}
    policy = DataPolicy.for_gan(**kw) if args.include_unknown else DataPolicy(**kw)
    on_progress, close = _progress(args.json)
    try:
        report = scan_dataset(args.dir, policy, on_progress, balance=not args.no_balance,
                              seed=args.seed)
    finally:
        close()
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return 0
    print(format_report(report))
    return 0


def format_report(report: dict, max_problems: int = 20) -> str:
    """The scan report as a few readable lines."""
    lines = [f"{report['root']}: layout {report['layout']}, {report['n_files']} image files, "
             f"{report['n_images']} metadata rows (checked in {report['seconds']} s)"]
    if len(report["folders"]) > 1:
        lines.append(f"{len(report['folders'])} folders joined on the ISIC id: {report['merged']} rows were in "
                     "more than one folder and count once (the row with the most metadata is kept)")
        lines += [f"  {f['root']} ({f['layout']}): {f['n_images']} rows, {f['n_kept']} kept"
                  for f in report["folders"]]
    lines.append("usable: " + ", ".join(f"{n} {label}" for label, n in report["labels"].items()))
    if report["left_out"]:
        lines.append("left out: " + ", ".join(f"{n} ({why})" for why, n in report["left_out"].items()))
    kind = "balanced subsample" if report["balanced"] else "all usable images"
    lines.append(f"split ({kind}, seed {report['seed']}, grouped by patient/lesion/image):")
    for split, counts in report["splits"].items():
        lines.append(f"  {split:5s} " + ", ".join(f"{n} {label}" for label, n in counts.items()))
    lines.append(f"  patients/lesions in more than one split: {report['group_overlap']}")
    lines.append("diagnoses (usable images): " + ", ".join(f"{n} {c}" for c, n in report["diagnoses"].items()))
    if report["diagnoses_left_out"]:
        lines.append("  not one of the seven (left out of the diagnosis task): " + ", ".join(
            f"{n} {name}" for name, n in report["diagnoses_left_out"].items()))
    lines.append(f"diagnosis split (every usable image with a class, seed {report['seed']}, grouped, "
                 "stratified by diagnosis):")
    for split, counts in report["diagnosis_splits"].items():
        lines.append(f"  {split:5s} " + ", ".join(f"{n} {c}" for c, n in counts.items()))
    lines.append(f"  patients/lesions in more than one split: {report['diagnosis_group_overlap']}")
    problems = report["problems"]
    lines.append(f"problems: {len(problems)}" + (" (" + ", ".join(
        f"{n} {why}" for why, n in report["problem_counts"].items()) + ")" if problems else ""))
    for p in problems[:max_problems]:
        where = p.get("path") or p.get("id")
        lines.append(f"  {p['reason']}: {where}" + (f" ({p['detail']})" if p.get("detail") else ""))
    if len(problems) > max_problems:
        lines.append(f"  ... and {len(problems) - max_problems} more (--json lists them all)")
    return "\n".join(lines)


def run_sizes(args: argparse.Namespace) -> int:
    from skinml.data.readers import image_sizes, load_dataset

    on_progress, close = _progress(args.json)
    try:
        sizes = image_sizes(load_dataset(args.dir, on_progress))
    finally:
        close()
    if args.json:
        print(json.dumps(sizes.to_dict(orient="records")))
        return 0
    total = int(sizes["count"].sum())
    print(f"{total} readable images, {len(sizes)} sizes (width x height: count)")
    for row in sizes.head(30).itertuples():
        print(f"  {row.width:5d} x {row.height:<5d} {row.count:6d}  {100 * row.count / total:5.1f}%")
    if len(sizes) > 30:
        print(f"  ... {len(sizes) - 30} more sizes")
    return 0
