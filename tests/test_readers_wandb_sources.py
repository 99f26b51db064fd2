"""W&B runs where they live: real run folders written by ``wandb.init(mode="offline")`` (no
network, no mock), and ``wandb:ENTITY/PROJECT/RUN_ID`` without a login."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import wandb  # the `wandb` extra: `make test` installs it, these tests never skip

from lrcurve.io import log_format, read_runs
from lrcurve.io.wandb_config import schedule_from_config
from lrcurve.io.wandb_sources import WANDB_EXTRA, run_folders

COSINE = {"scheduler": "cos", "lr": 1e-3, "iterations": 2000, "warmup_steps": 100}
WSD = {**COSINE, "scheduler": "wsd", "wsd_fract_decay": 0.2, "decay_type": "sqrt", "lr": 2e-3}
# one offline run a config: the LR its trainer would log (the config's schedule) and a loss
# falling with the LR area
LOG_RUN = textwrap.dedent(
    """
    import sys, json
    import numpy as np
    import wandb
    from lrcurve.io.wandb_config import schedule_from_config

    name, config = sys.argv[1], json.loads(sys.argv[2])
    schedule = schedule_from_config(config)
    steps = np.arange(1, config["iterations"] + 1)
    area = np.cumsum(schedule(steps)) / config["lr"]
    run = wandb.init(mode="offline", project="lrcurve-test", name=name, config=config)
    for k in range(20, config["iterations"] + 1, 20):
        loss = 2.5 + 4.0 * area[k - 1] ** -0.3
        run.log({"iter": k, "train_lr": float(schedule(np.array([k]))[0]), "val_loss": loss})
    run.finish()
    """
)


def _environment(tmp: Path) -> dict[str, str]:
    """No network, no login, nothing written outside ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    return {
        **env,
        "WANDB_SILENT": "true",
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp),
        "WANDB_CONFIG_DIR": str(tmp / "config"),
        "WANDB_CACHE_DIR": str(tmp / "cache"),
        "HOME": str(tmp),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }


@pytest.fixture(scope="module")
def wandb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``wandb/`` folder of two offline runs: warmup + cosine, and warmup + WSD (1-sqrt)."""
    import json

    tmp = tmp_path_factory.mktemp("wandb_runs")
    for name, config in (("cosine-run", COSINE), ("wsd-run", WSD)):
        subprocess.run(
            [sys.executable, "-c", LOG_RUN, name, json.dumps(config)],
            env=_environment(tmp),
            check=True,
            timeout=120,
        )
    return tmp / "wandb"


def test_the_fixture_is_what_wandb_writes(wandb_dir):
    folders = run_folders(wandb_dir)
    assert folders is not None and len(folders) == 2
    assert all(f.name.startswith("offline-run-") for f in folders)
    assert all(len(list(f.glob("run-*.wandb"))) == 1 for f in folders)
    assert wandb.__version__  # the package the reader runs


def test_a_run_folder_is_one_run_with_its_config_schedule_and_logged_losses(wandb_dir):
    folder = next(f for f in run_folders(wandb_dir) or [] if "cosine-run" in _name(f))
    assert log_format(folder) == "wandb-run"
    (run,) = read_runs(folder)
    assert run.name == "cosine-run" and run.source == str(folder)
    assert run.lr_origin.startswith("rebuilt from the W&B config")
    assert "matches the logged 'train_lr'" in run.lr_origin
    expected = schedule_from_config(COSINE)
    steps = np.arange(1, 2001)
    assert np.allclose(run.schedule(steps), expected(steps))
    assert run.steps.tolist() == list(range(20, 2001, 20))
    area = np.cumsum(expected(steps)) / 1e-3
    assert np.allclose(run.loss, 2.5 + 4.0 * area[run.steps - 1] ** -0.3)
    assert run.label == "cosine 2k to 10%"


def _name(folder: Path) -> str:
    (run,) = read_runs(folder)
    return run.name


def test_a_wandb_dir_is_its_runs_labelled_from_their_configs(wandb_dir):
    runs = read_runs(wandb_dir)
    assert sorted(r.name for r in runs) == ["cosine-run", "wsd-run"]
    labels = {r.name: r.label for r in runs}
    assert labels == {
        "cosine-run": "cosine 2k to 10% lr 1e-3",
        "wsd-run": "wsd 20% sqrt 2k lr 2e-3",
    }
    assert read_runs(wandb_dir.parent)[0].name in labels  # the project folder holding wandb/


def test_fit_and_check_read_wandb_folders_and_show_the_labels(cli, wandb_dir, tmp_path):
    result = cli("fit", wandb_dir, "-o", tmp_path / "fit.json", "--json")
    assert result.returncode == 0, result.stderr
    import json

    runs = json.loads(result.stdout)["runs"]
    assert {r["label"] for r in runs} == {"cosine 2k to 10% lr 1e-3", "wsd 20% sqrt 2k lr 2e-3"}
    assert {r["source"] for r in runs} == {str(f) for f in run_folders(wandb_dir) or []}
    folder = next(f for f in run_folders(wandb_dir) or [] if _name(f) == "wsd-run")
    check = cli("check", tmp_path / "fit.json", folder, "--json")
    assert check.returncode in (0, 1), check.stderr  # ok or drift, never an input error
    (checked,) = json.loads(check.stdout)["runs"]
    assert checked["label"] == "wsd 20% sqrt 2k" and checked["source"] == str(folder)


def test_without_the_wandb_package_one_line_names_the_extra(cli, wandb_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` fails as when not installed
    result = cli("fit", wandb_dir)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert WANDB_EXTRA in line and "wandb" in line


def test_an_api_run_without_login_fails_fast_in_one_line(tmp_path):
    env = _environment(tmp_path)
    env.pop("WANDB_MODE")
    env["WANDB_BASE_URL"] = "http://127.0.0.1:9"  # nothing listens there
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "lrcurve", "fit", "wandb:someone/project/abc123"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("lrcurve: error: wandb:someone/project/abc123: cannot fetch the run")
    assert "wandb login" in line and "WANDB_API_KEY" in line
    assert time.monotonic() - start < 60


def test_a_malformed_api_path_is_refused_before_any_request(cli):
    result = cli("fit", "wandb:only/two")
    assert result.returncode == 2
    assert "expected wandb:ENTITY/PROJECT/RUN_ID" in result.stderr
