"""`python -m skinml make NAME`: run the recipe train/recipes/NAME.toml from data to shipped
folder (train its runs, finish them into one model, measure it, write its card, ship it to
skinml/assets/NAME). Stopped at any point, the same command resumes where it stopped."""

from __future__ import annotations

from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("make", help="make a shipped model from its recipe (train/recipes/NAME.toml)",
                              description=__doc__)
    p.add_argument("name", help="a recipe name (train/recipes/NAME.toml) or a .toml path")
    p.add_argument("--to", type=Path, help="the model folder (default: skinml/assets/NAME)")
    p.add_argument("--runs-root", type=Path, help="where its runs go (default: $SKINML_RUNS or runs/)")
    p.set_defaults(func=run)


def run(args) -> int:
    from skinml.runs.process import stop_on_sigterm
    from skinml.runs.recipes import make

    stop_on_sigterm()
    print(make(args.name, dest=args.to, root=args.runs_root))
    return 0
