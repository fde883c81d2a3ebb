"""RunDir: the files of a run folder, and seconds per step by one rule (first epoch, resumed sessions)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from amos_tutorial.training.rundir import RunDir, seconds_per_step


def _metrics(iterations=(4, 8, 12), seconds=(9.0, 2.0, 2.4)) -> pd.DataFrame:
    return pd.DataFrame({"iteration": list(iterations), "seconds": list(seconds)})


def test_seconds_per_step_skips_the_first_epoch():
    assert seconds_per_step(_metrics()) == pytest.approx((2.0 + 2.4) / 8)
    assert seconds_per_step(_metrics(), skip_first=False) == pytest.approx(13.4 / 12)
    # A partial last epoch (steps 8 -> 10) counts its own steps; rows may come unsorted.
    assert seconds_per_step(_metrics((10, 4, 8), (1.0, 5.0, 2.0))) == pytest.approx((2.0 + 1.0) / 6)
    assert seconds_per_step(_metrics((4,), (2.0,))) == 0.5
    assert math.isnan(seconds_per_step(_metrics().iloc[:0]))
    with pytest.raises(ValueError, match="seconds"):
        seconds_per_step(pd.DataFrame({"iteration": [1]}))


def test_a_resumed_row_covers_only_the_steps_of_its_session():
    # Session 2 started at step 6, in the middle of the epoch that ends at 8: that row timed 2 steps.
    assert seconds_per_step(_metrics(), session_starts=[0, 6], skip_first=False) == pytest.approx(13.4 / 10)


def test_run_dir_names_and_reads_the_files(tmp_path):
    run = RunDir(tmp_path / "unet")
    assert run.checkpoint("best") == tmp_path / "unet" / "checkpoints" / "best.pt"
    assert not run.has_run()
    assert math.isnan(run.seconds_per_step())
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        run.checkpoint("final")
    with pytest.raises(FileNotFoundError, match="no metrics yet"):
        run.metrics()
    with pytest.raises(FileNotFoundError, match="no record of the run's cases"):
        run.cases()
    run.checkpoint("last").parent.mkdir(parents=True)
    run.checkpoint("last").write_bytes(b"")
    assert run.has_run()
    _metrics().to_csv(run.metrics_path, index=False)
    assert run.seconds_per_step() == pytest.approx(seconds_per_step(_metrics()))
    run.cases_path.write_text('{"task": 1, "training": {}, "validation": {}}', encoding="utf-8")
    assert run.cases()["task"] == 1
    run.metrics_path.write_text("iteration\n4\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no 'seconds'/'iteration' columns"):
        run.seconds_per_step()


def test_no_module_but_rundir_names_the_run_files():
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "amos_tutorial"
    names = ('"config.json"', '"metrics.csv"', '"cases.json"', '/ "checkpoints"', '"best.pt"', '"last.pt"')
    found = [
        f"{path.relative_to(package)}:{n}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "rundir.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(name in line for name in names) and ">>>" not in line
    ]
    assert found == [], "name run-folder files through amos_tutorial.training.rundir.RunDir"


def test_recorded_cases_are_the_runs_own_not_chosen_again(synthetic_root, tmp_path):
    import json

    from amos_tutorial.data.layout import load_amos

    data = load_amos(synthetic_root)
    labelled = sorted(c.case_id for c in data.cases if c.has_label)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    # Whatever the rule would choose, the record is what the run used.
    run.cases_path.write_text(json.dumps({"training": dict.fromkeys(labelled[:-1], "CT"), "validation": {labelled[-1]: "CT"}}))
    assert [c.case_id for c in run.recorded_cases(data)] == [labelled[-1]]
    assert [c.case_id for c in run.recorded_cases(data, "training")] == labelled[:-1]
    with pytest.raises(ValueError, match="which"):
        run.recorded_cases(data, "test")
    run.cases_path.write_text(json.dumps({"validation": {"amos_9999": "CT"}}))
    with pytest.raises(FileNotFoundError, match=r"cases.json: validation case\(s\) amos_9999 not in"):
        run.recorded_cases(data)


def test_scored_cases_come_from_the_records_of_all_runs(synthetic_root, tmp_path):
    import json

    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.data.splits import HELD_OUT, VALIDATION_SPLIT, labelled_cases
    from amos_tutorial.training.rundir import scored_cases

    data = load_amos(synthetic_root)
    train = [c.case_id for c in labelled_cases(data, "training")]
    val = [c.case_id for c in labelled_cases(data, "validation")]
    assert len(train) >= 2
    assert val

    def run(name, training, validation, **extra):
        folder = RunDir(tmp_path / name)
        folder.write_cases(2, [data.case(c) for c in training], [data.case(c) for c in validation], **extra)
        return folder.path

    # Runs that validated on part of the validation split are scored on all of it (none trained on it).
    split_runs = [run("a", train, val[:1], source=VALIDATION_SPLIT), run("b", train, val[:2], source=VALIDATION_SPLIT)]
    held = scored_cases(split_runs, data)
    assert ([c.case_id for c in held.val], held.source, held.from_split) == (val, VALIDATION_SPLIT, True)
    assert json.loads(RunDir(split_runs[0]).cases_path.read_text())["source"] == VALIDATION_SPLIT
    # Runs that held out training cases are scored on those, which must be the same for every run.
    held_runs = [run("c", train[:-1], train[-1:], source=HELD_OUT), run("d", train[:-1], train[-1:], source=HELD_OUT)]
    held = scored_cases(held_runs, data)
    assert ([c.case_id for c in held.val], held.source, held.from_split) == (train[-1:], HELD_OUT, False)
    assert [c.case_id for c in held.train] == train[:-1]
    other = run("e", train[1:], train[:1], source=HELD_OUT)
    with pytest.raises(ValueError, match=r"c/cases.json: the runs held out no case in common \(c: .*e: .*same cases"):
        scored_cases([*held_runs, other], data)
    wider = run("g", [], train, source=HELD_OUT)  # held out more: the runs are scored on the cases all held out
    assert [c.case_id for c in scored_cases([wider, *held_runs], data).val] == train[-1:]
    # A run that trained on a case the others held out is refused, naming its record.
    leaky = run("f", train, train[-1:], source=HELD_OUT)
    with pytest.raises(ValueError, match=rf"f/cases.json: trained on {train[-1]}, which would be scored"):
        scored_cases([*held_runs, leaky], data)
    with pytest.raises(ValueError, match="runs is empty"):
        scored_cases([], data)
    with pytest.raises(FileNotFoundError, match="no record of the run's cases"):
        scored_cases([tmp_path / "none"], data)
