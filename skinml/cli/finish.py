"""`python -m skinml finish RUN...`: finished runs into one model (an ensemble of classifier
runs, or a generator measured against its held-out lesions); prints its run directory."""

from __future__ import annotations

from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("finish", help="join classifier runs into an ensemble, or measure a GAN run's realism",
                              description=__doc__)
    p.add_argument("runs", nargs="+", type=Path, help="finished run directories (one recipe, different seeds)")
    p.add_argument("--out", type=Path, help="the ensemble's run directory (default: a new one under the runs root)")
    p.add_argument("--compact", action="store_true", help="store the ensemble's weights at float16, deflated")
    p.add_argument("--realism-images", type=int, default=1000, help="generated images a GAN is measured on")
    p.set_defaults(func=run)


def run(args) -> int:
    from skinml.runs.finish import finish

    print(finish(args.runs, out=args.out, compact=args.compact, realism_images=args.realism_images))
    return 0
