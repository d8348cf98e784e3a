"""Classifier CNNs: the architectures by name, training runs, finishing, ensembles, trained models on disk."""
