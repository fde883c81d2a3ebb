"""The validation cases of a fold run: read from the run's cases.json when it has one, else chosen by run_cases."""

from __future__ import annotations

import json

import pytest

from amos_tutorial.data.layout import load_amos
from amos_tutorial.inference.crossval import fold_validation_cases
from amos_tutorial.training import make_config
from amos_tutorial.training.rundir import RunDir


def test_a_run_with_a_cases_record_is_not_recomputed(synthetic_root, tmp_path):
    config = make_config("unet", preset="smoke", data=str(synthetic_root), fold=0)
    data = load_amos(synthetic_root)
    recorded = sorted(c.case_id for c in data.cases if c.has_label)[:2]
    run = RunDir(tmp_path / "fold0")
    run.path.mkdir()
    run.cases_path.write_text(json.dumps({"task": 2, "training": {}, "validation": dict.fromkeys(recorded, "CT")}))
    assert [c.case_id for c in fold_validation_cases(config, run=run.path)] == recorded
    # Without a record the 4 labelled synthetic cases cannot make 5 folds: the rule is applied, and says so.
    with pytest.raises(ValueError, match="fewer than 5 folds"):
        fold_validation_cases(config)
    run.cases_path.write_text(json.dumps({"validation": {"amos_9999": "CT"}}))
    with pytest.raises(FileNotFoundError, match="amos_9999 not in"):
        fold_validation_cases(config, run=run.path)
