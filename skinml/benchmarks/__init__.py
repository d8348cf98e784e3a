"""Benchmarks behind `python -m skinml bench NAME`: each module has add_arguments and run."""
