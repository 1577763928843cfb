"""A trained answer that predicts: the network, its data's preprocessing, and a safe file.

:class:`TrainedModel` holds a trained MLP with everything needed to predict on new rows: the
configuration, the weights, the training data's :class:`~near_optuna.data._transform.
Preprocessing` (columns, one-hot categories, imputation values, standardisation, class labels)
and the regression target's scale. :meth:`TrainedModel.save` writes one file;
:func:`load_model` reads it back.

The file is a NumPy ``.npz`` archive of plain arrays: the weights (float32), the statistics
(float64) and one JSON document (as bytes). It is read with ``allow_pickle=False``, so loading
never runs code from the file: a pickle, or an archive holding pickled objects, is refused.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from near_optuna.data._files import read_rows
from near_optuna.data._transform import Preprocessing
from near_optuna.measure._mlp import build_mlp
from near_optuna.measure._train import _predict

FORMAT = "near_optuna.model"
FORMAT_VERSION = 1
"""Bumped when a file of this version could not be read by an older release."""
_META = "meta"


class TrainedModel:
    """A trained MLP that predicts in the target's own units or class labels.

    Args:
        network: The trained network (its weights are used as they are).
        widths: Its hidden widths.
        activation: Its activation.
        init: The initialisation it was trained from (a record).
        preprocessing: The training data's preprocessing (``Dataset.preprocessing``).
        target_scale: ``(mean, std)`` the regression target was standardised with in
            training (the network predicts standardised values); ``(0, 1)`` for classes.
        info: JSON-ready facts kept in the file: how it was trained, which rows, the data.

    Attributes:
        notes: One-line notes of the last :meth:`predict` (filled cells, unknown text values).

    Example:
        >>> import tempfile
        >>> from sklearn.datasets import load_wine
        >>> from near_optuna import load_dataset, build_mlp
        >>> wine = load_dataset("wine")
        >>> net = build_mlp(wine.in_features, [8], 3, seed=0)
        >>> model = TrainedModel(net, widths=[8], activation="relu", init="default",
        ...                      preprocessing=wine.preprocessing)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     again = load_model(model.save(Path(folder) / "wine.npz"))
        >>> rows = load_wine().data[:5]  # raw rows, as the data came
        >>> again.predict(rows).tolist() == model.predict(rows).tolist()
        True
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        widths: Sequence[int],
        activation: str,
        init: str,
        preprocessing: Preprocessing,
        target_scale: tuple[float, float] = (0.0, 1.0),
        info: dict[str, Any] | None = None,
    ) -> None:
        self.network = network.cpu().eval()
        self.widths = [int(w) for w in widths]
        self.activation, self.init = activation, init
        self.preprocessing = preprocessing
        self.target_scale = (float(target_scale[0]), float(target_scale[1]))
        self.info: dict[str, Any] = dict(info or {})
        self.notes: tuple[str, ...] = ()
        self.device: str | torch.device = "cpu"

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return self.preprocessing.task

    @property
    def classes(self) -> tuple[Any, ...]:
        """The class labels, in the order of :meth:`predict_proba`'s columns."""
        return self.preprocessing.classes

    @property
    def target(self) -> str | None:
        """The target column's name (``None`` for a model trained on arrays)."""
        return self.preprocessing.target

    def features(self, rows: Any, *, source: str = "`data`") -> npt.NDArray[np.float32]:
        """The network's standardised inputs for ``rows`` (a DataFrame, an array or a path).

        Raises:
            ValueError: With one line, for rows that break the training data's rules.
        """
        if isinstance(rows, str | Path):
            text = [c.name for c in self.preprocessing.columns if c.kind == "text"]
            rows = read_rows(rows, text=text, na_values=self.preprocessing.na_values)
            source = "`data`"
        features = self.preprocessing.features(rows, source=source)
        self.notes = features.notes
        return features.x

    def outputs(self, x: npt.NDArray[np.float32]) -> torch.Tensor:
        """The network's raw outputs (float64, CPU) for standardised features ``x``."""
        return _predict(self.network.to(self.device), x, self.device)

    def predict(self, rows: Any) -> np.ndarray:
        """Predictions for ``rows``: class labels, or values in the target's own units.

        Args:
            rows: A pandas DataFrame with the feature columns (by name; extra columns and
                their order do not matter), a path to a ``.csv``, ``.tsv``, ``.parquet``,
                ``.npy`` or ``.npz`` file, or, for a model trained on arrays, a 2-D array.

        Returns:
            One prediction per row, in order.

        Raises:
            ValueError: With one line, for rows that break the training data's rules (a
                missing column, text where numbers were, missing cells without imputation).
        """
        return self.decode(self.outputs(self.features(rows)))

    def predict_proba(self, rows: Any) -> npt.NDArray[np.float64]:
        """Class probabilities (softmax of the outputs), one column per class in ``classes``.

        Raises:
            ValueError: For a regression model, or rows as in :meth:`predict`.
        """
        return self.probabilities(self.outputs(self.features(rows)))

    def decode(self, output: torch.Tensor, *, classes: Any = None) -> np.ndarray:
        """Predictions from raw outputs: values in the target's units, or class labels.

        ``classes`` (a sequence of labels in the model's class order) replaces the stored
        labels, e.g. to keep a NumPy dtype; it is ignored for a regression.
        """
        if self.task == "regression":
            mean, std = self.target_scale
            return np.asarray(output.reshape(-1).numpy() * std + mean, dtype=np.float64)
        labels = np.asarray(self.classes if classes is None else classes)
        return np.asarray(labels[output.argmax(dim=1).numpy()])

    def probabilities(self, output: torch.Tensor) -> npt.NDArray[np.float64]:
        """Class probabilities (softmax) from raw outputs, one column per class.

        Raises:
            ValueError: For a regression model.
        """
        if self.task == "regression":
            raise ValueError("`predict_proba` needs a classifier, but this model is a regression.")
        return np.asarray(torch.softmax(output, dim=1).numpy())

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` (a NumPy ``.npz`` archive, whatever its name); returns it.

        Raises:
            ValueError: When ``path``'s folder does not exist.
        """
        file = Path(path)
        if not file.parent.is_dir():
            raise ValueError(f"`path` folder does not exist: {str(file.parent)!r}.")
        from importlib.metadata import PackageNotFoundError, version

        try:
            release = version("near_optuna")
        except PackageNotFoundError:  # run from a source tree that was not installed
            release = "unknown"
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "near_optuna": release,
            "torch": torch.__version__.split("+")[0],
            "config": {
                "widths": self.widths,
                "activation": self.activation,
                "init": self.init,
                "in_features": self.preprocessing.n_features,
                "out_features": len(self.classes) if self.task != "regression" else 1,
            },
            "target_scale": list(self.target_scale),
            "preprocessing": self.preprocessing.record(),
            "info": self.info,
        }
        arrays: dict[str, np.ndarray] = {
            _META: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        }
        for name, value in self.preprocessing.arrays().items():
            arrays[f"pre.{name}"] = value
        for name, tensor in self.network.state_dict().items():
            arrays[f"net.{name}"] = tensor.detach().cpu().numpy()
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        file.write_bytes(buffer.getvalue())
        return file


def load_model(path: str | Path) -> TrainedModel:
    """Read a model file written by :meth:`TrainedModel.save` (or ``--save-model``).

    Nothing in the file is executed: it is read as plain arrays (``allow_pickle=False``).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: With one line, for a file that is not a near_optuna model, holds pickled
            data, or was written by a newer model format.

    Example:
        See :class:`TrainedModel`.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"`path` file not found: {str(path)!r}.")
    source = f"`path` {file.name!r}"
    not_ours = f"{source} is not a near_optuna model file"
    if not zipfile.is_zipfile(file):
        raise ValueError(f"{not_ours} (a model file is a NumPy .npz archive).")
    try:
        with np.load(file, allow_pickle=False) as archive:
            if _META not in archive.files:
                raise ValueError(f"{not_ours}: it holds no {_META!r} record.")
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as err:
        if str(err).startswith(not_ours):
            raise
        raise ValueError(f"{not_ours}: {err}") from err
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{not_ours}: {err}") from err
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{not_ours}: its record is not JSON ({err}).") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{not_ours}: its record names no near_optuna model format.")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{source} was written by near_optuna {meta.get('near_optuna')} in model format "
            f"{version}, which this release (format {FORMAT_VERSION}) cannot read: upgrade "
            "near_optuna."
        )
    return _model(meta, arrays, not_ours)


def _model(meta: dict[str, Any], arrays: dict[str, np.ndarray], not_ours: str) -> TrainedModel:
    try:
        config = meta["config"]
        pre = Preprocessing.from_parts(
            meta["preprocessing"],
            {k.removeprefix("pre."): v for k, v in arrays.items() if k.startswith("pre.")},
        )
        network = build_mlp(
            int(config["in_features"]),
            [int(w) for w in config["widths"]],
            int(config["out_features"]),
            activation=str(config["activation"]),
            seed=0,
        )
        state = {
            k.removeprefix("net."): torch.from_numpy(np.array(v))
            for k, v in arrays.items()
            if k.startswith("net.")
        }
        network.load_state_dict(state, strict=True)
        scale = meta["target_scale"]
        return TrainedModel(
            network,
            widths=config["widths"],
            activation=str(config["activation"]),
            init=str(config["init"]),
            preprocessing=pre,
            target_scale=(float(scale[0]), float(scale[1])),
            info=dict(meta.get("info", {})),
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{not_ours}: its contents do not fit together ({detail}).") from err
