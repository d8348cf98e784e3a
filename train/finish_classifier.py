"""Join finished classifier runs into one ensemble and ship it: `python -m skinml finish` then
`python -m skinml ship`.

    python train/finish_classifier.py --runs runs/seed0 runs/seed1 --ship skinml/assets/classifier

With the package installed (`pip install -e .`).
"""

import argparse
import sys
from pathlib import Path


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", required=True, help="finished run directories")
    p.add_argument("--out", help="the ensemble's run directory (default: a new one under runs/)")
    p.add_argument("--ship", type=Path, help="ship the finished model to this folder (e.g. skinml/assets/classifier)")
    args = p.parse_args(argv)
    from skinml.errors import SkinmlError
    from skinml.runs.finish import finish
    from skinml.runs.ship import ship

    try:
        run_dir = finish(args.runs, out=args.out, compact=bool(args.ship))
        print(ship(run_dir, args.ship) if args.ship else run_dir)
    except SkinmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
