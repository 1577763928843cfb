"""The answer you can use: the model file, predictions on new rows, the predict command."""

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from sklearn.model_selection import train_test_split

from near_optuna import (
    NearObjective,
    SearchSpace,
    TrainedModel,
    build_mlp,
    load_file,
    load_model,
    refine_study,
)
from near_optuna.data._prepare import split_indices
from near_optuna.data._split import validation_split
from near_optuna.measure._model import FORMAT_VERSION
from near_optuna.measure._train import held_out_terms
from near_optuna.study._candidates import REFERENCE
from near_optuna.study._refine import train_answer

ROWS = 240


def write_table(path: Path, *, regression: bool = False, seed: int = 0) -> pd.DataFrame:
    """A small table as users have them: numbers, a text column, missing cells."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, ROWS).astype(float)
    weight = rng.normal(70, 12, ROWS)
    color = rng.choice(["red", "green", "blue"], ROWS)
    signal = (age - 50) / 20 + (color == "red") + rng.normal(0, 0.3, ROWS)
    frame = pd.DataFrame({"age": age, "weight": weight, "color": color})
    frame["price"] = 100 + 30 * signal if regression else np.where(signal > 0.3, "yes", "no")
    frame.loc[[3, 17], "age"] = np.nan
    frame.loc[[5], "color"] = None
    frame.to_csv(path, index=False)
    return pd.read_csv(path)


def refined(path: Path, target: str = "price", seed: int = 0):
    data = load_file(path, target=target, impute="median", seed=seed)
    objective = NearObjective(
        torch.from_numpy(data.x_train),
        out_features=data.out_features,
        space=SearchSpace(max_depth=2, max_width=32),
        prune_oversized=False,
        repetitions=1,
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=4)
    return data, refine_study(study, data, 2, epochs=3, escalate_top=1, seed=seed)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classifier")
    frame = write_table(folder / "cars.csv")
    data, refinement = refined(folder / "cars.csv")
    path = refinement.save(folder / "cars.npz")
    return frame, data, refinement, path


def test_the_preprocessing_gives_the_training_features_bit_for_bit(classifier):
    frame, data, _, _ = classifier
    features = data.preprocessing.features(frame)
    labels = np.unique(frame["price"], return_inverse=True)[1]
    train, test = split_indices(ROWS, labels, test_fraction=0.25, seed=0)
    assert np.array_equal(features.x[train], data.x_train)
    assert np.array_equal(features.x[test], data.x_test)
    assert features.notes == (
        "`data`: filled 3 missing cells with the training medians ('age' (2), 'color' (1)).",
    )


def test_a_saved_model_predicts_bit_for_bit_what_the_trained_one_does(classifier):
    frame, _, refinement, path = classifier
    loaded = load_model(path)
    assert np.array_equal(loaded.predict(frame), refinement.model.predict(frame))
    assert np.array_equal(loaded.predict_proba(frame), refinement.model.predict_proba(frame))
    assert set(loaded.predict(frame)) <= {"yes", "no"}
    shuffled = frame[["price", "color", "weight", "age"]]  # other order, target included
    assert np.array_equal(loaded.predict_proba(shuffled), refinement.model.predict_proba(frame))
    assert np.array_equal(loaded.predict(path.parent / "cars.csv"), loaded.predict(frame))
    proba = loaded.predict_proba(frame)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert np.array_equal(np.asarray(loaded.classes)[proba.argmax(axis=1)], loaded.predict(frame))


def test_the_validation_score_recomputed_from_the_file_is_the_refinements(classifier):
    frame, data, refinement, path = classifier
    loaded = load_model(path)
    labels = np.unique(frame["price"], return_inverse=True)[1]
    train, _ = split_indices(ROWS, labels, test_fraction=0.25, seed=0)
    split = validation_split(data, seed=0)
    # The validation rows, found the way validation_split finds them, as raw rows of the file.
    _, rows = train_test_split(
        train, test_size=len(split.y_test), random_state=0, stratify=labels[train]
    )
    x = loaded.features(frame.iloc[rows])
    assert np.array_equal(x, split.x_test)
    terms = held_out_terms(loaded.network, x, labels[rows], scale=loaded.target_scale)
    assert float(terms.sum()) == refinement.score == loaded.info["validation"]["score"]
    assert loaded.info["trained"]["rows"] == len(split.y_train)
    assert loaded.info["trained"]["how"] == "refinement"
    assert loaded.info["candidate"]["key"] == refinement.answer.key


def test_training_the_answer_again_by_the_recipe_gives_the_same_network(classifier):
    frame, data, refinement, _ = classifier
    steps = refinement.model.info["trained"]["steps"]
    again = train_answer(refinement.answer, data, steps=steps, seed=0)
    assert np.array_equal(again.predict_proba(frame), refinement.model.predict_proba(frame))
    assert again.info["trained"]["how"] == "trained once"


def test_a_regression_model_predicts_in_the_targets_units(tmp_path):
    frame = write_table(tmp_path / "prices.csv", regression=True)
    data, refinement = refined(tmp_path / "prices.csv")
    assert data.task == "regression"
    loaded = load_model(refinement.save(tmp_path / "prices.npz"))
    predicted = loaded.predict(frame)
    assert predicted.dtype == np.float64
    assert predicted.shape == (ROWS,)
    assert np.array_equal(predicted, refinement.model.predict(frame))
    assert abs(predicted.mean() - frame["price"].mean()) < 0.5 * frame["price"].std()
    with pytest.raises(ValueError, match="needs a classifier"):
        loaded.predict_proba(frame)


def test_new_rows_are_held_to_the_training_datas_rules(classifier):
    frame, _, _, path = classifier
    model = load_model(path)
    with pytest.raises(
        ValueError, match=r"^`data` lacks 2 columns the model needs: 'age', 'color'\.$"
    ):
        model.predict(frame.drop(columns=["age", "color"]))
    typo = frame.astype({"weight": object})
    typo.loc[7, "weight"] = "?"
    with pytest.raises(ValueError, match=r"column 'weight' holds text \(such as '\?' in row 8\)"):
        model.predict(typo)
    new = frame.iloc[[0, 1, 2, 4]].copy()  # rows without missing cells
    new.loc[0, "color"] = "purple"
    new.loc[1, "age"] = np.nan
    predicted = model.predict(new)
    assert len(predicted) == 4
    assert all(p in ("yes", "no") for p in predicted)
    assert model.notes == (
        "`data`: 1 cell of text column 'color' holds a value the training data did not have "
        "(such as 'purple'): one-hot features all 0.",
        "`data`: filled 1 missing cell with the training medians ('age' (1)).",
    )
    x = model.features(new)
    assert np.isfinite(x).all()


def test_missing_cells_are_refused_when_the_training_data_was_not_imputed(tmp_path):
    wine = load_file_free_wine(tmp_path)
    with pytest.raises(ValueError, match="trained without imputation"):
        wine.predict(np.full((1, 13), np.nan))


def load_file_free_wine(tmp_path: Path) -> TrainedModel:
    from near_optuna import load_dataset

    data = load_dataset("wine")
    return train_answer(REFERENCE, data, epochs=1)


def test_files_that_are_not_models_are_refused_and_nothing_in_them_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="is not a near_optuna model file"):
        load_model(pickled)
    torch_file = tmp_path / "model.pt"
    torch.save({"payload": Payload()}, torch_file)
    with pytest.raises(ValueError, match="is not a near_optuna model file"):
        load_model(torch_file)
    sneaky = tmp_path / "sneaky.npz"  # an object array named like ours
    np.savez(sneaky, meta=np.array([Payload()], dtype=object))
    with pytest.raises(ValueError, match="is not a near_optuna model file"):
        load_model(sneaky)
    assert not marker.exists()
    with pytest.raises(ValueError, match="is not a near_optuna model file"):
        load_model(Path(__file__))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(tmp_path / "absent.npz")


def test_a_model_from_a_newer_format_is_refused_with_the_versions(classifier, tmp_path):
    _, _, _, path = classifier
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(archive["meta"].tobytes())
    meta["format_version"] = FORMAT_VERSION + 1
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    newer = tmp_path / "newer.npz"
    np.savez(newer, **arrays)
    assert len(parts) == len(arrays)
    with pytest.raises(
        ValueError, match=rf"model format {FORMAT_VERSION + 1}, which this release"
    ):
        load_model(newer)
    arrays["meta"] = np.frombuffer(json.dumps(meta | {"format_version": 1}).encode(), np.uint8)
    arrays["net.0.weight"] = arrays["net.0.weight"][:, :2]
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    with pytest.raises(ValueError, match="do not fit together"):
        load_model(broken)


def test_a_model_saves_where_its_folder_exists(tmp_path):
    from near_optuna import load_dataset

    data = load_dataset("wine")
    model = TrainedModel(
        build_mlp(13, [4], 3, seed=0),
        widths=[4],
        activation="relu",
        init="default",
        preprocessing=data.preprocessing,
    )
    with pytest.raises(ValueError, match="folder does not exist"):
        model.save(tmp_path / "no" / "m.npz")
    assert model.save(tmp_path / "m.bin").is_file()  # any name: no suffix is added


def run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


FAST = ["--n-trials", "6", "--max-width", "32", "--max-depth", "2", "--repetitions", "1"]


@pytest.mark.slow
def test_save_model_then_predict_from_the_command_line(tmp_path):
    frame = write_table(tmp_path / "cars.csv")
    tuned = run(
        "near_optuna.tune",
        *("--data", "cars.csv", "--target", "price", "--impute", "median", *FAST),
        *("--refine", "2", "--refine-epochs", "3", "--time-budget", "60"),
        *("--save-model", "cars.npz", "--json", "out.json"),
        cwd=tmp_path,
    )
    assert tuned.returncode == 0, tuned.stderr
    assert "Model saved to cars.npz" in tuned.stdout
    assert "trained in the refinement" in tuned.stdout  # and on, if a busy machine cut it
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["model"]["path"] == "cars.npz"
    answer = summary["answer"]
    assert summary["model"]["key"] == f"{answer['widths']}/{answer['activation']}/{answer['init']}"
    url = f"sqlite:///{tmp_path / 'studies' / 'near_optuna.db'}"
    study = optuna.load_study(study_name="near_optuna", storage=url)
    from near_optuna.dashboard._notes import study_note

    assert "**Model file:** `cars.npz`" in study_note(study)
    new = frame.drop(columns=["price"]).head(25)
    new.loc[0, "color"] = "purple"
    new.to_csv(tmp_path / "new.csv", index=False)
    predicted = run(
        "near_optuna.predict",
        *("--model", "cars.npz", "--data", "new.csv", "--out", "p.csv", "--proba"),
        cwd=tmp_path,
    )
    assert predicted.returncode == 0, predicted.stderr
    assert "holds a value the training data did not have" in predicted.stdout
    assert "Wrote 25 predictions (price, proba_no, proba_yes) to p.csv." in predicted.stdout
    out = pd.read_csv(tmp_path / "p.csv")
    assert list(out.columns) == ["price", "proba_no", "proba_yes"]
    assert len(out) == 25
    expected = load_model(tmp_path / "cars.npz").predict(tmp_path / "new.csv")
    assert out["price"].tolist() == expected.tolist()


def predict_in_process(capsys, *args: str) -> tuple[int, str, str]:
    """``near_optuna.predict``'s ``main`` in this process: exit code, stdout, stderr."""
    from near_optuna.predict import main as predict_main

    capsys.readouterr()
    try:
        code = predict_main(list(args))
    except SystemExit as stop:  # argparse's own errors
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_predict_command_refuses_bad_input_in_one_line(
    classifier, tmp_path, monkeypatch, capsys
):
    frame, _, _, path = classifier
    monkeypatch.chdir(tmp_path)
    frame.drop(columns=["weight"]).to_csv(tmp_path / "short.csv", index=False)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    cases = [
        (("--data", "short.csv", "--out", "p.csv"), "`--data` lacks 1 column the model needs"),
        (("--data", "rows.csv", "--out", "p.txt"), "`--out` must end in one of"),
        (("--data", "absent.csv", "--out", "p.csv"), "`--data` file not found"),
        (("--data", "rows.csv", "--out", "rows.csv"), "is the `--data` file"),
    ]
    for args, message in cases:
        code, _, err = predict_in_process(capsys, "--model", str(path), *args)
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert message in lines[0]
        assert lines[0].startswith("python -m near_optuna.predict: error: "), lines[0]
        assert "Traceback" not in err
        assert not (tmp_path / "p.csv").exists()
        assert not (tmp_path / "p.txt").exists()
    code, _, err = predict_in_process(
        capsys, "--model", "rows.csv", "--data", "rows.csv", "--out", "p.csv"
    )
    assert code == 2
    assert "`--model` 'rows.csv' is not a near_optuna model" in err


def test_the_predict_command_writes_labels_and_probabilities(
    classifier, tmp_path, monkeypatch, capsys
):
    frame, _, _, path = classifier
    monkeypatch.chdir(tmp_path)
    frame.drop(columns=["price"]).to_csv(tmp_path / "rows.csv", index=False)
    code, _, err = predict_in_process(
        capsys, "--model", str(path), "--data", "rows.csv", "--out", "p.tsv", "--proba", "-q"
    )
    assert code == 0, err
    out = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    model = load_model(path)
    assert out.columns.tolist() == ["price", "proba_no", "proba_yes"]
    assert out["price"].tolist() == model.predict(frame).tolist()
    np.testing.assert_allclose(
        out[["proba_no", "proba_yes"]].to_numpy(), model.predict_proba(frame), rtol=1e-6
    )


@pytest.mark.slow
def test_save_model_with_refine_0_trains_the_near_best_once_and_says_so(tmp_path):
    done = run(
        "near_optuna.tune",
        *("--dataset", "wine", *FAST, "--refine", "0", "--save-model", "wine.npz"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Answer (NEAR only, not trained; --refine 0)" in done.stdout
    assert "trained once for it (30 epochs)" in done.stdout
    model = load_model(tmp_path / "wine.npz")
    assert model.info["trained"]["how"] == "trained once"
    assert model.task == "classification"
    refused = run(
        "near_optuna.tune",
        *("--dataset", "wine", "--multi-objective", "--save-model", "w.npz"),
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert "does not go with `--multi-objective`" in refused.stderr
    refused = run("near_optuna.tune", "--save-model", "no/w.npz", cwd=tmp_path)
    assert refused.returncode == 2
    assert "`--save-model` folder does not exist" in refused.stderr


def test_a_halving_cut_by_time_saves_the_answer_trained_on_to_its_full_length(tmp_path):
    frame = write_table(tmp_path / "cars.csv")
    data = load_file(tmp_path / "cars.csv", target="price", impute="median")
    objective = NearObjective(
        torch.from_numpy(data.x_train),
        out_features=data.out_features,
        space=SearchSpace(max_depth=1, max_width=16),
        prune_oversized=False,
        repetitions=1,
    )
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=2)
    cut = refine_study(study, data, 1, epochs=200, escalate_top=0, probe_top=0, time_budget=0.05)
    assert cut.model.info["trained"]["steps"] < cut.planned_steps
    full = cut.complete_model()
    assert full.info["trained"]["steps"] == cut.planned_steps
    assert full.info["trained"]["cut_at"] == cut.model.info["trained"]["steps"]
    assert cut.model.info["trained"]["steps"] < cut.planned_steps  # the cut model is unchanged
    uncut = train_answer(cut.answer, data, steps=cut.planned_steps, seed=0)
    assert np.array_equal(full.predict_proba(frame), uncut.predict_proba(frame))


def test_the_predict_command_reads_and_writes_parquet(classifier, tmp_path):
    pytest.importorskip("pyarrow")
    frame, _, _, path = classifier
    frame.drop(columns=["price"]).to_parquet(tmp_path / "rows.parquet", index=False)
    done = run(
        "near_optuna.predict",
        *("--model", str(path), "--data", "rows.parquet", "--out", "p.parquet", "-q"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    out = pd.read_parquet(tmp_path / "p.parquet")
    assert out["price"].tolist() == load_model(path).predict(frame).tolist()
