"""`python -m skinml ship RUN_OR_FOLDER --to skinml/assets/NAME`: a complete model folder,
written beside the old one and swapped in (nothing of an earlier model stays), with its card
generated from its files."""

from __future__ import annotations

from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("ship", help="ship a finished run (or ensemble run, or model folder) as a model folder",
                              description=__doc__)
    p.add_argument("source", type=Path, help="a finished run, an ensemble run, or a model folder")
    p.add_argument("--to", type=Path, required=True, help="the model folder to (re)place, e.g. skinml/assets/NAME")
    p.add_argument("--recipe", help="the recipe that made it (train/recipes/NAME.toml): named on its card")
    p.set_defaults(func=run)


def run(args) -> int:
    from skinml.runs.ship import ship

    command = f"python -m skinml ship {args.source} --to {args.to}"
    command += f" --recipe {args.recipe}" if args.recipe else ""
    record = {"command": command}
    if args.recipe:
        from skinml.runs.recipes import load_recipe, ship_record

        run = (args.source / "model").is_dir() or (args.source / "generator").is_dir()
        record = {**ship_record(load_recipe(args.recipe), [args.source] if run else []), "command": command}
        if not run:
            record["notes"] = [*record["notes"], "Shipped from a model folder, not from a run: the weights are that "
                               "folder's, not remade by this command."]
    print(ship(args.source, args.to, record=record))
    return 0
