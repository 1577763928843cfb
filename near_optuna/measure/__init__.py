"""Floor 3, measuring torch models.

Hooks, NEAR and peer scores, the signal-scale guard, MLPs, layer sizing, one configuration's
evaluation, and the training yardstick. No Optuna here: everything works on a model and a batch.
"""
