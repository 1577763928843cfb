"""Floor 1, pure math: effective rank, spectra, curve fits, decision rules, argument checks.

Arrays in, floats out. Imports neither torch nor Optuna nor anything above it.
"""
