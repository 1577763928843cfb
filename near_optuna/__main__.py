"""``python -m near_optuna`` runs the tuning command (``near_optuna.tune``)."""

from near_optuna.tune import main

raise SystemExit(main())
