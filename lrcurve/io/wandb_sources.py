"""W&B runs where they live, read through the ``wandb`` package (the ``wandb`` extra).

- A local run folder, ``wandb/run-*/`` or ``wandb/offline-run-*/``, which every W&B run writes
  (offline runs only there): its ``run-<id>.wandb`` transaction log holds the config, the
  summary and every logged history row. The log is read by wandb's own reader
  (``wandb leet inspect --json``, run from the ``wandb-core`` binary the package ships). A
  ``wandb/`` folder with several run folders is several runs.
- ``wandb:ENTITY/PROJECT/RUN_ID``: the run through W&B's public API (``wandb.Api``), every
  logged row (``scan_history``, not the sampled ``history``); it needs the network and a login
  (``wandb login`` or ``WANDB_API_KEY``), and says so in one line when either is missing.

Either becomes the run export a W&B JSON file holds (``{"name", "config", "summary",
"history"}``) and is read as one (:mod:`lrcurve.io.wandb`): the same series choice, schedule
from the config (:mod:`lrcurve.io.wandb_config`) and notes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from lrcurve.errors import ReadError
from lrcurve.io.options import ReadOptions
from lrcurve.io.series import Logged
from lrcurve.io.wandb import export_run

WANDB_EXTRA = "pip install 'schedlaw[wandb]'"
API_PREFIX = "wandb:"
API_TIMEOUT = 15  # seconds a request to the W&B API may take
READ_TIMEOUT = 300  # seconds wandb-core may take to read a transaction log


def _wandb(what: str) -> Any:
    """The ``wandb`` package, or one line naming the extra that installs it."""
    try:
        import wandb
    except ImportError:
        message = f"{what}: reading W&B runs needs the wandb package: {WANDB_EXTRA}"
        raise ReadError(message) from None
    return wandb


def _log_file(folder: Path) -> Path | None:
    logs = sorted(folder.glob("run-*.wandb"))
    return logs[0] if len(logs) == 1 else None


def run_folders(path: Path) -> list[Path] | None:
    """The W&B run folders ``path`` names: itself (a folder with a ``run-*.wandb`` log), or
    the run folders in it or in its ``wandb/`` subfolder; None when it holds none."""
    if not path.is_dir():
        return None
    if _log_file(path) is not None:
        return [path]
    for folder in (path, path / "wandb"):
        if not folder.is_dir():
            continue
        runs = sorted(  # latest-run is a link to one of them
            p for p in folder.glob("*run-*") if p.is_dir() and not p.is_symlink() and _log_file(p)
        )
        if runs:
            return runs
    return None


def _records(log: Path) -> list[dict[str, Any]]:
    """The records of the transaction log ``log`` as wandb's reader prints them (JSON lines)."""
    wandb = _wandb(str(log.parent))
    from wandb.util import get_core_path

    try:
        core = get_core_path()
    except Exception as err:  # noqa: BLE001 - wandb's own "not built for this platform"
        raise ReadError(f"{log}: wandb cannot read run logs here: {err}") from None
    args = [core, "leet", "inspect", "--no-observability", "--json", "--run-file", str(log)]
    try:
        done = subprocess.run(
            [*args, str(log.parent.parent)],
            capture_output=True,
            text=True,
            timeout=READ_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ReadError(f"{log}: wandb {wandb.__version__} could not read it: {err}") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ReadError(
            f"{log}: wandb {wandb.__version__} could not read it ({why}); reading run folders "
            "needs wandb >= 0.31"
        )
    try:
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise ReadError(f"{log}: wandb printed a record that is not JSON: {err}") from None


def folder_export(folder: Path) -> dict[str, Any]:
    """The run export of a run folder: config (updates merged in order), summary, history rows;
    named by the run's display name, else its id."""
    log = _log_file(folder)
    if log is None:
        raise ReadError(f"{folder}: not a W&B run folder (no single run-*.wandb log in it)")
    export: dict[str, Any] = {"name": folder.name, "config": {}, "summary": {}, "history": []}
    for record in _records(log):
        kind = record.get("type")
        body = record.get(kind) if isinstance(kind, str) else None
        if not isinstance(body, dict):
            continue
        if kind == "run":
            export["name"] = body.get("display_name") or body.get("run_id") or folder.name
            export["config"].update(body.get("config", {}).get("update", {}))
        elif kind in ("config", "summary"):
            export[kind].update(body.get("update", {}))
        elif kind == "history" and isinstance(body.get("item"), dict):
            export["history"].append(body["item"])
    export["config"].pop("_wandb", None)
    return export


def read_wandb_folder(path: Path, options: ReadOptions) -> list[Logged]:
    """The runs of a W&B run folder, or of a ``wandb/`` folder of them."""
    exports = [(folder, folder_export(folder)) for folder in run_folders(path) or []]
    return [export_run(folder, export["name"], export, options) for folder, export in exports]


def is_api_source(path: str | Path) -> bool:
    """Does ``path`` name a run on W&B (``wandb:ENTITY/PROJECT/RUN_ID``)?"""
    return str(path).startswith(API_PREFIX)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def read_wandb_api(source: str, options: ReadOptions) -> list[Logged]:
    """The run ``wandb:ENTITY/PROJECT/RUN_ID``, fetched through W&B's public API."""
    run_path = source[len(API_PREFIX) :].strip("/")
    if run_path.count("/") != 2 or not all(run_path.split("/")):
        raise ReadError(f"{source}: expected wandb:ENTITY/PROJECT/RUN_ID")
    wandb = _wandb(source)
    try:
        run = wandb.Api(timeout=API_TIMEOUT).run(run_path)
        export = {
            "name": run.name or run.id,
            "config": dict(run.config),
            "summary": dict(run.summary),
            "history": list(run.scan_history()),
        }
    except Exception as err:  # noqa: BLE001 - wandb raises many kinds; each is one line here
        raise ReadError(
            f"{source}: cannot fetch the run from W&B ({_one_line(err)}); check the network, "
            "the login (`wandb login` or WANDB_API_KEY) and the run path"
        ) from None
    return [export_run(Path(source), export["name"], export, options)]
