"""scikit-learn estimators: ``fit`` runs a NEAR study and the refinement, then predicts.

:class:`NearMLPClassifier` and :class:`NearMLPRegressor` put near_optuna beside any other
model in ``cross_val_score``, ``GridSearchCV`` and ``Pipeline``. ``fit(X, y)`` does what
``python -m near_optuna.tune`` does on a file: it standardises the features (one-hot encoding
the text columns of a DataFrame, imputing missing cells if asked), scores ``n_trials``
untrained configurations with NEAR in an Optuna study, trains the best of them beside the
reference MLP with successive halving on a validation part of ``X`` (the refinement), and
keeps the answer's trained network (``model_``, a :class:`~near_optuna.TrainedModel`).

Every row of ``X`` is a training row: the refinement holds out ``validation_fraction`` of them
to choose, and the network it keeps was trained on the rest. With ``time_budget=None`` (the
default) nothing depends on the clock, so a fixed ``random_state`` gives the same model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _assert_all_finite,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from near_optuna.data._datasets import DEFAULT_TEST_FRACTION, Dataset, make_dataset
from near_optuna.data._files import frame_table
from near_optuna.data._split import DEFAULT_VALIDATION_FRACTION
from near_optuna.measure._model import TrainedModel
from near_optuna.study._objective import NearObjective
from near_optuna.study._refine import refine_study
from near_optuna.study._space import SearchSpace

MIN_FIT_SAMPLES = 4
"""Fewest rows ``fit`` takes: training and validation rows of at least two each."""
NEAR_SHARE = 0.4
"""Share of a ``time_budget`` that the NEAR study may use; the refinement has the rest."""


def _is_frame(x: Any) -> bool:
    import pandas as pd

    return isinstance(x, pd.DataFrame)


class _NearMLP(BaseEstimator):  # type: ignore[misc]
    """What both estimators share; see :class:`NearMLPClassifier` for the parameters."""

    _task = "classification"

    def __init__(
        self,
        *,
        n_trials: int = 50,
        refine: int = 4,
        refine_epochs: int = 30,
        time_budget: float | None = None,
        max_depth: int = 3,
        max_width: int = 256,
        prune_oversized: bool = True,
        repetitions: int = 5,
        impute: str | None = None,
        validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
        device: str = "cpu",
        random_state: int | None = None,
        storage: str | None = None,
        study_name: str | None = None,
    ) -> None:
        self.n_trials = n_trials
        self.refine = refine
        self.refine_epochs = refine_epochs
        self.time_budget = time_budget
        self.max_depth = max_depth
        self.max_width = max_width
        self.prune_oversized = prune_oversized
        self.repetitions = repetitions
        self.impute = impute
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.storage = storage
        self.study_name = study_name

    # -- fitting -------------------------------------------------------------------------

    def _check_params(self) -> None:
        for name, low in (("n_trials", 1), ("refine", 1), ("refine_epochs", 1), ("max_depth", 1)):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"`{name}` must be an integer >= {low}, but got {value!r}.")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(
                f"`time_budget` must be > 0 seconds or None, but got {self.time_budget!r}."
            )
        if self.impute not in (None, "mean", "median"):
            raise ValueError(
                f"`impute` must be None, 'mean' or 'median', but got {self.impute!r}."
            )

    def _dataset(self, x: Any, y: Any, seed: int) -> Dataset:
        """The training rows as a :class:`Dataset` (no test split), with their preprocessing."""
        finite = "allow-nan" if self.impute is not None else True
        if _is_frame(x):
            validate_data(self, x, skip_check_array=True)
            if y is None:
                raise ValueError(f"{type(self).__name__} requires y to be passed, but y is None.")
            target = column_or_1d(np.asarray(y), warn=True)
            if target.dtype.kind in "fc":
                _assert_all_finite(target, input_name="y")
            table = frame_table(x)
            features, names, columns, kind = table.x, table.names, table.columns, True
            columns = {k: v for k, v in columns.items() if k != "target"} | {"dropped": []}
        else:
            features, target = validate_data(
                self,
                x,
                y,
                dtype=np.float64,
                ensure_all_finite=finite,
                y_numeric=self._task == "regression",
            )
            names, columns, kind = None, {}, False
        if len(target) < MIN_FIT_SAMPLES:
            raise ValueError(
                f"`X` has {len(target)} sample{'s' if len(target) != 1 else ''}: "
                f"{type(self).__name__} needs at least {MIN_FIT_SAMPLES} (training and "
                "validation rows)."
            )
        if self._task == "classification":
            check_classification_targets(target)
        return make_dataset(
            features,
            target,
            task=self._task,
            name="X",
            test_fraction=DEFAULT_TEST_FRACTION,
            seed=seed,
            description=f"{type(self).__name__}.fit",
            impute=self.impute,
            names=names,
            columns=columns,
            source="`X`",
            target="`y`",
            table=kind,
            hold_out=False,
        )

    def fit(self, X: Any, y: Any) -> Any:
        """Run the NEAR study and the refinement on ``X, y``; keep the trained answer.

        Args:
            X: Features: an array ``(samples, features)`` of numbers, or a pandas DataFrame
                (text columns are one-hot encoded, as in ``python -m near_optuna.tune``).
            y: The target, one value per row.

        Returns:
            ``self``.

        Raises:
            ValueError: For bad input or parameters, in one line.
        """
        start = time.perf_counter()
        self._check_params()
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        data = self._dataset(X, y, seed)
        deadline = None if self.time_budget is None else start + NEAR_SHARE * self.time_budget
        objective = NearObjective(
            torch.from_numpy(data.x_train),
            out_features=data.out_features,
            space=SearchSpace(max_depth=self.max_depth, max_width=self.max_width),
            repetitions=self.repetitions,
            seed=seed,
            prune_oversized=self.prune_oversized,
            device=self.device,
            notes=self.storage is not None,
        )
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = self._study(seed)
            study.optimize(
                objective,
                n_trials=self.n_trials,
                timeout=None if deadline is None else max(deadline - time.perf_counter(), 0.0),
            )
            left = None
            if self.time_budget is not None:
                left = max(start + self.time_budget - time.perf_counter(), 1.0)
            refinement = refine_study(
                study,
                data,
                self.refine,
                epochs=self.refine_epochs,
                time_budget=left,
                validation_fraction=self.validation_fraction,
                seed=seed,
                device=self.device,
            )
        finally:
            optuna.logging.set_verbosity(verbosity)
        model = refinement.complete_model()
        assert model is not None
        self.model_: TrainedModel = model
        self.refinement_: dict[str, Any] = refinement.to_dict()
        self.study_name_: str = study.study_name
        if self._task == "classification":
            self.classes_ = np.unique(np.asarray(column_or_1d(np.asarray(y))))
        return self

    def _study(self, seed: int) -> optuna.Study:
        storage: str | optuna.storages.BaseStorage = (
            optuna.storages.InMemoryStorage() if self.storage is None else self.storage
        )
        return optuna.create_study(
            storage=storage,
            study_name=self.study_name,
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            load_if_exists=False,
        )

    # -- predicting ----------------------------------------------------------------------

    def _features(self, x: Any) -> npt.NDArray[np.float32]:
        check_is_fitted(self, "model_")
        if _is_frame(x):
            validate_data(self, x, reset=False, skip_check_array=True)
            return self.model_.features(x, source="`X`")
        finite = "allow-nan" if self.impute is not None else True
        array = validate_data(self, x, reset=False, dtype=np.float64, ensure_all_finite=finite)
        return self.model_.features(array, source="`X`")

    def _outputs(self, x: Any) -> torch.Tensor:
        features = self._features(x)
        return self.model_.outputs(features)

    def save(self, path: Any) -> Any:
        """Write the trained answer to a model file (see :func:`~near_optuna.load_model`)."""
        check_is_fitted(self, "model_")
        return self.model_.save(path)


class NearMLPClassifier(ClassifierMixin, _NearMLP):  # type: ignore[misc]
    """An MLP classifier whose architecture near_optuna picks during ``fit``.

    Args:
        n_trials: NEAR-scored configurations (untrained) in the study.
        refine: How many of the best distinct configurations the refinement trains (besides
            wider variants, wide probes and the reference MLP).
        refine_epochs: The last successive-halving rung, in passes over the training rows.
        time_budget: Seconds for ``fit`` (the NEAR study stops at 40% of it, the refinement's
            rungs are shortened to fit); ``None``: no limit, and a fixed ``random_state``
            gives the same model.
        max_depth: Deepest network searched (1 to ``max_depth`` hidden layers).
        max_width: Widest hidden layer searched.
        prune_oversized: Saturation pruning of oversized layers, as in the command line.
        repetitions: Initialisations averaged per NEAR score.
        impute: ``None`` (missing cells are refused), ``"mean"`` or ``"median"``.
        validation_fraction: Share of the rows the refinement holds out to choose.
        device: Where the networks run (``"cpu"``, ``"cuda"``).
        random_state: Seed of the study, initialisations, splits and mini-batches.
        storage: An Optuna storage URL to keep the study for optuna-dashboard (default:
            in memory).
        study_name: The study's name in ``storage`` (a new study each ``fit``).

    Attributes:
        model_: The trained answer (:class:`~near_optuna.TrainedModel`), trained to the last
            rung's full length even where ``time_budget`` cut the halving short; ``save``
            writes it.
        refinement_: The refinement's record (answer, verdict, candidates, schedule).
        classes_: The class labels.
        n_features_in_: Columns of ``X``.
        feature_names_in_: Column names of a DataFrame ``X``.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.model_selection import cross_val_score
        >>> x, y = load_iris(return_X_y=True)
        >>> clf = NearMLPClassifier(n_trials=5, refine=1, prune_oversized=False,
        ...                         repetitions=1, random_state=0)
        >>> bool(cross_val_score(clf, x, y, cv=2).mean() > 0.8)
        True
    """

    _task = "classification"

    def predict(self, X: Any) -> np.ndarray:
        """The predicted class label of each row."""
        output = self._outputs(X)  # checks that the estimator is fitted
        return self.model_.decode(output, classes=self.classes_)

    def predict_proba(self, X: Any) -> npt.NDArray[np.float64]:
        """Class probabilities, one column per label of ``classes_``."""
        output = self._outputs(X)  # checks that the estimator is fitted
        return self.model_.probabilities(output)


class NearMLPRegressor(RegressorMixin, _NearMLP):  # type: ignore[misc]
    """An MLP regressor whose architecture near_optuna picks during ``fit``.

    The parameters and attributes are :class:`NearMLPClassifier`'s (without ``classes_``);
    the target is standardised for training and predictions are in its own units.

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> x, y = load_diabetes(return_X_y=True)
        >>> reg = NearMLPRegressor(n_trials=5, refine=1, prune_oversized=False,
        ...                        repetitions=1, random_state=0).fit(x, y)
        >>> reg.predict(x[:3]).shape
        (3,)
    """

    _task = "regression"

    def predict(self, X: Any) -> npt.NDArray[np.float64]:
        """The predicted value of each row, in the target's units."""
        output = self._outputs(X)  # checks that the estimator is fitted
        return self.model_.decode(output)
