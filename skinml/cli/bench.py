"""`python -m skinml bench <name> ...`: speed benchmarks that print figures (never tests)."""

from __future__ import annotations

import importlib

# One module per benchmark in skinml/benchmarks/, each with add_arguments(parser) and
# run(args) -> int.
BENCHMARKS = ["pipeline", "train", "gan", "predict", "segment", "explain", "serve", "pages"]


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks: images/second and other figures")
    sub = parser.add_subparsers(dest="bench_name", required=True, metavar="NAME")
    for name in BENCHMARKS:
        module = importlib.import_module(f"skinml.benchmarks.{name}")
        doc = (module.__doc__ or name).strip().splitlines()[0]
        bench = sub.add_parser(name, help=doc, description=doc)
        module.add_arguments(bench)
        bench.set_defaults(func=module.run)
