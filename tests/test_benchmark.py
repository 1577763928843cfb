from near_optuna.benchmark import format_table, main, run


def test_baseline_and_near_score_agree():
    rows = run([16, 40], depth=2, repetitions=2, repeats=1, seed=0)
    assert [row["width"] for row in rows] == [16, 40]
    assert all(row["rel_diff"] < 1e-6 for row in rows), rows
    assert "| 40 |" in format_table(rows)


def test_command_line_prints_a_table(capsys):
    assert main(["--widths", "8", "--depth", "1", "--repeats", "1", "--repetitions", "1"]) == 0
    out = capsys.readouterr().out
    assert "| width | near_score (s) | baseline (s) | speed-up | score rel. diff |" in out
