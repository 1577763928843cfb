"""The scikit-learn estimators: scikit-learn's own checks, DataFrames, pipelines, searches."""

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from near_optuna import NearMLPClassifier, NearMLPRegressor, load_model

# Small and quick: scikit-learn's checks fit dozens of times on tiny data.
QUICK = {"n_trials": 3, "refine": 1, "prune_oversized": False, "repetitions": 1, "max_width": 32}


@parametrize_with_checks([NearMLPClassifier(**QUICK), NearMLPRegressor(**QUICK)])
def test_scikit_learns_estimator_checks(estimator, check):
    # Every check applies and runs; none is skipped or expected to fail (check_array_api_input
    # skips itself unless SCIPY_ARRAY_API is set in the environment).
    check(estimator)


def people(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(float),
            "city": rng.choice(["Basel", "Bern", "Genf"], rows),
            "income": rng.normal(5, 1, rows),
        }
    )
    signal = (frame["age"] - 50) / 15 + (frame["city"] == "Bern") * 1.5
    return frame, np.where(signal + rng.normal(0, 0.3, rows) > 0.5, "yes", "no")


def test_a_dataframe_with_text_columns_fits_and_predicts_its_labels():
    frame, y = people()
    clf = NearMLPClassifier(**QUICK, random_state=0).fit(frame, y)
    assert list(clf.feature_names_in_) == ["age", "city", "income"]
    assert clf.n_features_in_ == 3
    assert list(clf.classes_) == ["no", "yes"]
    assert set(clf.predict(frame)) <= {"no", "yes"}
    assert clf.score(frame, y) > 0.8
    reordered = frame[["income", "city", "age"]]
    with pytest.raises(ValueError, match="feature names"):  # scikit-learn's own rule
        clf.predict(reordered)
    assert clf.refinement_["answer"]["widths"] == list(clf.model_.widths)


def test_the_same_random_state_gives_the_same_model():
    frame, y = people()
    first = NearMLPClassifier(**QUICK, random_state=3).fit(frame, y)
    second = clone(first).fit(frame, y)
    assert np.array_equal(first.predict_proba(frame), second.predict_proba(frame))


def test_cross_validation_beside_histgradientboosting_pipelines_and_grid_search():
    frame, y = people(240)
    numbers = frame.drop(columns=["city"]).to_numpy()
    near = cross_val_score(NearMLPClassifier(**QUICK, random_state=0), frame, y, cv=3)
    boosted = cross_val_score(HistGradientBoostingClassifier(), numbers, y, cv=3)
    assert near.shape == boosted.shape == (3,)
    assert near.mean() > 0.75
    pipeline = make_pipeline(
        FunctionTransformer(np.log1p), NearMLPRegressor(**QUICK, random_state=0)
    )
    target = frame["age"].to_numpy() * 2.0
    assert cross_val_score(pipeline, numbers, target, cv=2).mean() > 0.5
    search = GridSearchCV(NearMLPClassifier(**QUICK, random_state=0), {"refine": [1, 2]}, cv=2)
    search.fit(frame, y)
    assert search.best_params_["refine"] in (1, 2)


def test_a_fitted_estimator_saves_a_model_file_that_predicts_the_same(tmp_path):
    frame, y = people()
    clf = NearMLPClassifier(**QUICK, random_state=0, impute="median").fit(frame, y)
    model = load_model(clf.save(tmp_path / "people.npz"))
    holey = frame.copy()
    holey.loc[[1, 2], "age"] = np.nan
    assert np.array_equal(model.predict(holey), clf.predict(holey))
    assert model.notes == (
        "`data`: filled 2 missing cells with the training medians ('age' (2)).",
    )


def test_a_storage_keeps_the_study_for_the_dashboard(tmp_path):
    url = f"sqlite:///{tmp_path / 'fits.db'}"
    frame, y = people()
    NearMLPClassifier(**QUICK, random_state=0, storage=url, study_name="people").fit(frame, y)
    names = {s.study_name for s in optuna.get_all_study_summaries(url)}
    assert names == {"people", "people:refine"}
    study = optuna.load_study(study_name="people", storage=url)
    assert study.user_attrs["near:refine"]["answer"]["origin"] in (
        "reference",
        "near",
        "x2",
        "x4",
        "wide",
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_trials": 0}, "`n_trials` must be an integer >= 1, but got 0"),
        ({"time_budget": -1.0}, "`time_budget` must be > 0 seconds or None"),
        ({"impute": "mode"}, "`impute` must be None, 'mean' or 'median'"),
    ],
)
def test_bad_parameters_are_named_in_one_line(params, message):
    frame, y = people(20)
    with pytest.raises(ValueError, match=message):
        NearMLPClassifier(**(QUICK | params)).fit(frame, y)
