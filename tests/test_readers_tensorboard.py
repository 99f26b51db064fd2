import subprocess
import sys

import numpy as np
import pytest

from lrcurve.errors import InputError
from lrcurve.io import read_runs

tensorboard = pytest.importorskip(
    "tensorboard",
    reason="the tensorboard extra is not installed: pip install 'schedlaw[tensorboard]'",
)


def write_events(
    folder, scalars: dict[str, list[tuple[int, float]]], as_tensors: bool = False
) -> None:
    """A tiny event file, as PyTorch's SummaryWriter (simple values) or TensorFlow 2 (tensors)
    writes it."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    writer = EventFileWriter(str(folder))
    for tag, points in scalars.items():
        for step, value in points:
            if as_tensors:
                meta = SummaryMetadata(
                    plugin_data=SummaryMetadata.PluginData(plugin_name="scalars")
                )
                summary = Summary(
                    value=[
                        Summary.Value(
                            tag=tag,
                            metadata=meta,
                            tensor=tensor_util.make_tensor_proto(np.float32(value)),
                        )
                    ]
                )
            else:
                summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
            writer.add_event(Event(step=step, wall_time=1.7e9 + step, summary=summary))
    writer.close()


def curve(steps):
    return [(int(s), float(3 + 20 / np.sqrt(s))) for s in steps]


@pytest.mark.parametrize("as_tensors", [False, True])
def test_reads_loss_and_lr_tags(tmp_path, as_tensors):
    steps = np.arange(100, 3100, 100)
    write_events(
        tmp_path,
        {
            "train/loss": curve(np.arange(10, 3010, 10)),
            "eval/loss": curve(steps),
            "train/learning_rate": [
                (int(s), 1e-3 * min(1.0, s / 500)) for s in np.arange(10, 3010, 10)
            ],
        },
        as_tensors,
    )
    run = read_runs(tmp_path)[0]
    assert list(run.steps) == list(steps)  # the validation loss by default
    assert run.loss[0] == pytest.approx(3 + 2, rel=1e-6) and run.peak_lr == pytest.approx(1e-3)
    assert run.warmup_steps == 500  # from the rising LR
    train = read_runs(tmp_path, loss="train", smooth="none")[0]
    assert len(train.steps) == 300 and train.loss[-1] == pytest.approx(
        3 + 20 / np.sqrt(3000), rel=1e-6
    )
    event_file = next(tmp_path.glob("*tfevents*"))
    assert len(read_runs(event_file)[0].steps) == 30  # a single event file reads the same


def test_each_folder_of_events_is_a_run_and_missing_tags_are_clear(tmp_path):
    for name, scale in (("run_a", 1.0), ("run_b", 1.1)):
        (tmp_path / name).mkdir()
        write_events(
            tmp_path / name,
            {
                "val_loss": [(s, scale * v) for s, v in curve(range(50, 1050, 50))],
                "lr-AdamW": [(s, 5e-4) for s in range(50, 1050, 50)],
            },
        )
    runs = read_runs(tmp_path)
    assert sorted(r.name for r in runs) == [f"{tmp_path.name}:run_a", f"{tmp_path.name}:run_b"]
    a, b = sorted(runs, key=lambda r: r.name)
    assert np.allclose(b.loss / a.loss, 1.1)
    with pytest.raises(InputError, match="no series 'val_bpb'"):
        read_runs(tmp_path, loss="val_bpb")
    (tmp_path / "run_c").mkdir()
    write_events(tmp_path / "run_c", {"val_loss": curve(range(50, 1050, 50))})
    with pytest.raises(InputError, match="no learning-rate tag"):
        read_runs(tmp_path)


def test_without_the_extra_the_error_names_it(tmp_path):
    write_events(
        tmp_path,
        {"val_loss": curve(range(50, 550, 50)), "lr": [(s, 1e-3) for s in range(50, 550, 50)]},
    )
    blocker = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def fake(name, *a, **k):\n"
        "    if name.startswith('tensorboard'): raise ImportError(name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = fake\n"
        "from lrcurve.cli import main\n"
        f"sys.argv = ['lrcurve', 'fit', {str(tmp_path)!r}]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "schedlaw[tensorboard]" in result.stderr


def test_event_files_read_are_never_written(tmp_path):
    """An event file read, alone or through its folder, is an input: never written, even with
    --force."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write_events(
            tmp_path / name,
            {
                "val_loss": curve(range(50, 1050, 50)),
                "lr": [(s, 1e-3) for s in range(50, 1050, 50)],
            },
        )
    (a,), (b,) = (list((tmp_path / name).glob("*tfevents*")) for name in ("a", "b"))
    from lrcurve.cli.files import refuse_input
    from lrcurve.cli.loading import RunInputs

    assert str(a) in read_runs(a)[0].inputs
    assert any(str(b) in run.inputs for run in read_runs(tmp_path))  # b through the folders
    RunInputs().load([a.parent.parent / "b"], None, quiet=True)
    RunInputs().load([a], None, quiet=True)
    for event_file in (a, b):
        with pytest.raises(InputError, match="is one of the inputs"):
            refuse_input(event_file)


def test_logged_nan_losses_count_as_bad_values(tmp_path):
    """TensorBoard NaNs were read as "not logged": a run whose loss diverged to NaN was fitted on
    its few finite points instead of being refused like the same CSV."""
    steps = range(50, 1050, 50)
    lr = [(s, 1e-3) for s in steps]
    diverged = [(s, v if s <= 300 else float("nan")) for s, v in curve(steps)]
    write_events(tmp_path, {"val_loss": diverged, "lr": lr})
    with pytest.raises(
        InputError, match=r"column 'val_loss': 14 of 20 values are NaN or infinite; refusing"
    ):
        read_runs(tmp_path)
    (tmp_path / "few").mkdir()
    write_events(
        tmp_path / "few",
        {"val_loss": [(s, float("nan") if s == 500 else v) for s, v in curve(steps)], "lr": lr},
    )
    run = read_runs(tmp_path / "few")[0]
    assert 500 not in run.steps and len(run.steps) == 19
    assert any("dropped 1 rows whose 'val_loss' is NaN or infinite" in n for n in run.notes)


def test_schedule_from_a_folder_of_several_runs_is_refused(tmp_path):
    """read_schedule took the first run of a folder of several, silently."""
    from lrcurve.io import read_schedule

    for name, peak in (("a", 1e-3), ("b", 3e-4)):
        (tmp_path / name).mkdir()
        write_events(
            tmp_path / name,
            {
                "val_loss": curve(range(50, 1050, 50)),
                "lr": [(s, peak) for s in range(50, 1050, 50)],
            },
        )
    with pytest.raises(
        InputError,
        match=rf"holds 2 runs \({tmp_path.name}:a, {tmp_path.name}:b\); "
        "a schedule is read from one run",
    ):
        read_schedule(tmp_path)
    assert read_schedule(tmp_path / "b").peak == pytest.approx(3e-4)


@pytest.mark.parametrize(
    "content", [b"", bytes(range(256)) * 2, b"step,lr,loss\n1,2,3\n"], ids=["empty", "junk", "csv"]
)
def test_an_unreadable_event_file_is_named_as_such(tmp_path, content):
    """Random bytes named events.out.tfevents.* gave "no loss series (series: none)"."""
    (tmp_path / "events.out.tfevents.1.host").write_bytes(content)
    for path in (tmp_path, tmp_path / "events.out.tfevents.1.host"):
        with pytest.raises(
            InputError,
            match="not a readable TensorBoard event log: .* no event TensorBoard can read",
        ):
            read_runs(path)
    (tmp_path / "empty_run").mkdir()
    write_events(tmp_path / "empty_run", {})  # a valid log with no scalars: which series is missing
    with pytest.raises(InputError, match="no loss series"):
        read_runs(tmp_path / "empty_run")


def test_the_column_flags_name_a_logs_series_or_are_refused(tmp_path):
    """Review 11: --lr-col my_lr on a log with tags my_lr and lr fitted on lr, silently; the
    LR and loss flags name a TensorBoard log's tags, a step or run column is refused."""
    from lrcurve.errors import ParameterError
    from lrcurve.io import Columns

    steps = np.arange(100, 3100, 100)
    write_events(
        tmp_path,
        {
            "val/loss": curve(steps),
            "my_lr": [(int(s), 3e-4) for s in steps],
            "lr": [(int(s), 3e-3) for s in steps],
        },
    )
    assert read_runs(tmp_path)[0].peak_lr == pytest.approx(3e-3)  # the usual name
    mine = read_runs(tmp_path, columns=Columns(lr="my_lr", loss="val/loss"))[0]
    assert mine.peak_lr == pytest.approx(3e-4) and mine.loss_series == "val/loss"
    with pytest.raises(InputError, match=r"no series 'nothing' \(series: "):
        read_runs(tmp_path, columns=Columns(lr="nothing"))
    with pytest.raises(ParameterError, match="is a TensorBoard log, whose steps and runs") as err:
        read_runs(tmp_path, columns=Columns(step="iteration"))
    assert err.value.param == "step_col"
