"""`python -m skinml train`: train (or resume) one run, of a classifier or a GAN, or a recipe's runs.

    python -m skinml train --data DIR --model thesis_base --epochs 3 --run-dir runs/x
    python -m skinml train --kind gan --data-dir DIR --model skinml_gan --epochs 100 --run-dir runs/g
    python -m skinml train --run-dir runs/x            # resume (or start) the run its config.json describes
    python -m skinml train --recipe classifier         # the runs of train/recipes/classifier.toml

Started again with the same --run-dir, a run resumes after its last complete epoch (its saved
config wins). The dashboard starts this command for every run, with the run's config.json
already written. Building the options imports no Keras: `--help` answers at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path

from skinml.cnn.config import THESIS_SETTINGS, TrainConfig
from skinml.gan.train import GANConfig

KINDS = {"classifier": TrainConfig, "gan": GANConfig}


def parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not '{text}'")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One --option per field of TrainConfig and of GANConfig (underscores become dashes),
    default None = unset, so the chosen kind's own defaults apply."""
    seen = set()
    for title, cls in (("classifier runs (TrainConfig)", TrainConfig), ("GAN runs, --kind gan (GANConfig)", GANConfig)):
        group = parser.add_argument_group(title)
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if field.name in seen:
                continue
            seen.add(field.name)
            kind, flag = hints[field.name], "--" + field.name.replace("_", "-")
            help_text = f"default: {field.default!r}"
            if kind is bool:
                group.add_argument(flag, type=parse_bool, metavar="BOOL", help=help_text)
            elif typing.get_origin(kind) is tuple:
                group.add_argument(flag, nargs="*", metavar="COLUMN=VALUE", help=help_text)
            else:
                group.add_argument(flag, type=kind, help=help_text)


def config_from_args(args: argparse.Namespace, kind: str | None = None):
    """The TrainConfig or GANConfig the options describe (`kind`: "classifier" or "gan").

    Only --run-dir given and a config.json there: the run's saved config, of its own kind."""
    from skinml.io import read_json
    from skinml.runs.store import run_kind

    kind = kind or args.kind
    given = {f: getattr(args, f) for f in {*TrainConfig.__dataclass_fields__, *GANConfig.__dataclass_fields__}
             if getattr(args, f, None) is not None}
    saved = read_json(Path(args.run_dir) / "config.json") if args.run_dir else None
    if isinstance(saved, dict) and not kind:
        kind = run_kind(saved)
        given = {**saved, **given}
    cls = KINDS[kind or "classifier"]
    values = dict(THESIS_SETTINGS) if getattr(args, "thesis_settings", False) and cls is TrainConfig else {}
    values.update({k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})
    return cls.from_dict(values)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train or resume a classifier or GAN run (or a recipe's runs)",
                              description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=sorted(KINDS), help="what the run trains (default: the run's config.json, "
                   "else classifier)")
    p.add_argument("--recipe", help="train every run of train/recipes/NAME.toml (a name or a .toml path)")
    p.add_argument("--thesis-settings", action="store_true", help="start from the thesis's recipe (classifiers)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from skinml.runs.process import exit_with_parent, stop_on_sigterm
    from skinml.runs.store import new_run_dir

    stop_on_sigterm()  # the dashboard's Stop button ends the run as "stopped", like Ctrl+C
    exit_with_parent()  # started by the dashboard: end with it
    if args.recipe:
        from skinml.runs.recipes import load_recipe, train_recipe

        for run_dir in train_recipe(load_recipe(args.recipe)):
            print(run_dir)
        return 0
    config = config_from_args(args)
    on_progress, close = None, lambda: None
    if not args.quiet:
        from skinml.progress import tqdm_progress

        on_progress, close = tqdm_progress(desc=config.model)
    try:
        if isinstance(config, GANConfig):
            from skinml.runs.train import fit_gan

            if not config.run_dir:
                config = dataclasses.replace(config, run_dir=str(new_run_dir(config.model)))
            fit_gan(config, on_progress)
            run_dir = config.run_dir
        else:
            from skinml.runs.train import fit_classifier

            run_dir = fit_classifier(config, on_progress)
    finally:
        close()
    print(run_dir)
    return 0
