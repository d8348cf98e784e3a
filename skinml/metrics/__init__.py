"""Measures computed from labels and predicted probabilities (binary and multi-class): NumPy only."""
