"""Floor 6, what plugs into an Optuna study.

The search space, ``NearObjective``, ``NearGate``, ``NearCallback`` with its evidence, the
per-trial record, and the training check.
"""
