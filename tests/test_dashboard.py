import json
import threading
import urllib.request
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pytest
from optuna_dashboard import wsgi

from near_optuna.tune import main


class Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A study made by the CLI (with --validate), served by optuna-dashboard on loopback."""
    db = tmp_path_factory.mktemp("dash") / "study.db"
    storage = f"sqlite:///{db}"
    code = main(
        [
            "--storage",
            storage,
            "--dataset",
            "wine",
            "--n-trials",
            "16",
            "--max-width",
            "256",
            "--repetitions",
            "1",
            "--validate",
            "2",
            "--prune-oversized",  # wine has 13 features: pruning (and its figures) on request
            "-q",
        ]
    )
    assert code == 0
    server = make_server(
        "127.0.0.1", 0, wsgi(optuna.storages.RDBStorage(storage)), handler_class=Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", storage
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def study_json(base: str) -> dict:
    summaries = get(f"{base}/api/studies")["study_summaries"]
    (study,) = [s for s in summaries if s["study_name"] == "near_optuna"]
    attrs = {a["key"] for a in study["user_attrs"]}
    assert {"near:search_space", "near:data", "near:saturation", "near:validation"} <= attrs
    return get(f"{base}/api/studies/{study['study_id']}")


def test_study_note_and_figures(served):
    base, _ = served
    study = study_json(base)
    note = study["note"]["body"]
    assert "## near_optuna study" in note
    assert "**Data:** wine" in note
    assert "**Saturation widths per layer:**" in note
    assert "Spearman(score, accuracy)" in note
    figures = {g["id"] for g in study["plotly_graph_objects"]}
    assert {"near-score-vs-width", "near-layer-size-0", "near-score-vs-accuracy"} <= figures
    by_id = {g["id"]: json.loads(g["graph_object"]) for g in study["plotly_graph_objects"]}
    assert by_id["near-score-vs-accuracy"]["data"], "the validation scatter has points"


def test_trial_notes_and_attributes(served):
    base, _ = served
    trials = study_json(base)["trials"]
    assert len(trials) == 16
    for trial in trials:
        note = trial["note"]["body"]
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert "near:widths" in attrs
        if trial["state"] == "Complete":
            assert note.startswith("**NEAR:**")
            assert "| layer | module | width | rows | erank pre | erank post |" in note
            assert "| 0 | 0 |" in note, "hidden position 0 is module '0'"
            assert "near:layers" in attrs
        elif trial["state"] == "Pruned":
            assert note.startswith("**Pruned:** ")
            assert attrs["near:pruned"] in note


@pytest.mark.slow
def test_works_without_plotly(tmp_path):
    """plotly is optional: the package imports, studies run, only the figures are skipped."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['plotly'] = None\n"
        "import optuna, torch\n"
        "from near_optuna import NearObjective, SearchSpace\n"
        "from near_optuna.dashboard._publish import publish_study\n"
        "x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))\n"
        "o = NearObjective(x, out_features=2, space=SearchSpace(max_width=16), repetitions=1,\n"
        "                  prune_oversized=False)\n"
        f"s = optuna.create_study(storage='sqlite:///{tmp_path / 'p.db'}', direction='maximize')\n"
        "s.optimize(o, n_trials=3)\n"
        "print('figures', publish_study(s))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "figures []" in result.stdout
    assert "no dashboard figures" in result.stderr
