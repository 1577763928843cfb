"""``python -m near_optuna.tune``."""

from near_optuna.tune._main import main

raise SystemExit(main())
