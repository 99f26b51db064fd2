"""read_runs / read_schedule: every malformed input is an InputError naming the file,
column or value; safe repairs are made and said; valid logs read back exactly."""

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lrcurve.errors import InputError
from lrcurve.io import Columns, read_runs, read_schedule
from lrcurve.laws.base import LRHistory
from lrcurve.runs import MAX_STEPS
from lrcurve.schedules import MultiStep
from tests.conftest import FUZZ_SCALE, SAMPLES


def write(tmp_path: Path, text: str, name: str = "run.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def table(rows: list[tuple], header: str = "step,lr,loss") -> str:
    return header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)


GOOD = [(100 * i, 1e-3, 4.0 - 0.1 * i) for i in range(1, 8)]


def refused(path: Path, *fragments: str, **kwargs) -> str:
    """read_runs refuses ``path`` with one line naming the file and every fragment."""
    with pytest.raises(InputError) as caught:
        read_runs(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- files that are not tables ----------------------------------------------------------


def test_missing_file_and_directory(tmp_path):
    refused(tmp_path / "nope.csv", "no such file")
    (tmp_path / "logs.csv").mkdir()
    refused(tmp_path / "logs.csv", "directory")


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_empty_file(tmp_path, text):
    refused(write(tmp_path, text), "empty")


def test_header_only(tmp_path):
    refused(write(tmp_path, "step,lr,loss\n"), "no rows")


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"\x00\x01\x02\xffPNG" * 20, "binary"),
        (bytes(range(128, 256)) * 4, "not UTF-8"),
        ("step,lr,loss\n1,0.1,3\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_binary_junk(tmp_path, data, fragment):
    path = tmp_path / "junk.csv"
    path.write_bytes(data)
    refused(path, fragment)


def test_json_given_as_a_table(tmp_path):
    refused(write(tmp_path, '[{"step": 1, "lr": 0.1, "loss": 3}]\n'))


@pytest.mark.parametrize("sep", ["|", " "])
def test_unknown_delimiter_is_named(tmp_path, sep):
    text = table(GOOD).replace(",", sep)
    refused(write(tmp_path, text), "single column", f"step{sep}lr{sep}loss")


@pytest.mark.parametrize(
    "sep, suffix", [(";", ".csv"), ("\t", ".csv"), ("\t", ".tsv"), (",", ".tsv")]
)
def test_delimiter_comes_from_the_header(tmp_path, sep, suffix):
    path = write(tmp_path, table(GOOD).replace(",", sep), "run" + suffix)
    (run,) = read_runs(path)
    assert run.steps.tolist() == [s for s, _, _ in GOOD]
    assert run.loss.tolist() == [x for _, _, x in GOOD]


def test_ragged_rows(tmp_path):
    refused(write(tmp_path, table(GOOD) + "900,1e-3,3.0,7\n"), "cannot parse", "line 9")
    every_row_longer = "step,lr,loss\n" + "".join(f"0,{s},{lr},{x}\n" for s, lr, x in GOOD)
    refused(write(tmp_path, every_row_longer), "more fields than the header")


def test_repeated_column_name(tmp_path):
    refused(
        write(tmp_path, table([(s, lr, x, x) for s, lr, x in GOOD], "step,lr,loss,loss")),
        "'loss'",
        "more than once",
    )


# --- columns ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, missing, flag",
    [
        ("lr,loss", "step", "step_col"),
        ("step,loss", "LR", "lr_col"),
        ("step,lr", "loss", "loss_col"),
    ],
)
def test_missing_column(tmp_path, header, missing, flag):
    rows = [(1e-3, 3.0)] * 4 if header == "lr,loss" else [(i, 3.0) for i in range(1, 5)]
    refused(
        write(tmp_path, table(rows, header)),
        f"no {missing} column",
        flag,
        header.replace(",", ", "),
    )


def test_named_column_that_is_not_there(tmp_path):
    refused(write(tmp_path, table(GOOD)), "no column 'val'", columns=Columns(loss="val"))


def test_detected_names_and_preferences(tmp_path):
    rows = [(s, lr, x + 1, x) for s, lr, x in GOOD]
    (run,) = read_runs(write(tmp_path, table(rows, "Iter,Learning_Rate,train_loss,val_loss")))
    assert run.loss.tolist() == [x for _, _, x in GOOD]  # validation loss over training loss
    (named,) = read_runs(
        write(tmp_path, table(rows, "Iter,Learning_Rate,train_loss,val_loss")),
        columns=Columns(step="iter", lr="learning_rate", loss="train_loss"),
        smooth="none",
    )
    assert named.loss.tolist() == [x + 1 for _, _, x in GOOD]


@pytest.mark.parametrize(
    "column, cell, value",
    [
        ("loss", "abc", "'abc'"),
        ("lr", "3e-4x", "'3e-4x'"),
        ("step", "1,000", "'1,000'"),
    ],
)
def test_text_in_numeric_columns(tmp_path, column, cell, value):
    rows = [dict(zip(("step", "lr", "loss"), map(str, row))) for row in GOOD]
    rows[2][column] = f'"{cell}"'
    path = write(tmp_path, table([tuple(r.values()) for r in rows]))
    refused(path, f"column {column!r}", "row 4", value)


@pytest.mark.parametrize(
    "step, fragment",
    [
        ("", "missing"),
        ("-5", "negative step"),
        ("2.5", "not a whole number"),
        ("1e12", "beyond"),
        ("nan", "missing"),
    ],
)
def test_bad_steps(tmp_path, step, fragment):
    rows = list(GOOD)
    rows[3] = (step, 1e-3, 3.0)
    refused(write(tmp_path, table(rows)), "column 'step'", "row 5", fragment)
    assert MAX_STEPS < 1e12


def test_single_row_and_too_few_rows(tmp_path):
    refused(write(tmp_path, table(GOOD[:1])), "only 1 usable loss")
    refused(write(tmp_path, table(GOOD[:2])), "only 2 usable loss")


def test_negative_loss(tmp_path):
    rows = list(GOOD)
    rows[1] = (200, 1e-3, -0.5)
    refused(write(tmp_path, table(rows)), "negative loss -0.5", "step 200")


@pytest.mark.parametrize(
    "loss, shown",
    [
        (0, "loss 0 at step 200"),
        ("-0", "loss -0 at step 200"),
        (1e-300, "loss 1e-300 at step 200"),
        ("5e-324", "loss 4.94066e-324"),
    ],
)
def test_zero_or_vanishing_loss(tmp_path, loss, shown):
    """A loss of 0 or 1e-300 made the fit divide by it and fail inside (LinAlgError)."""
    rows = list(GOOD)
    rows[1] = (200, 1e-3, loss)
    refused(write(tmp_path, table(rows)), shown, "relative errors")


@pytest.mark.parametrize("scale", [1e-30, 1e-300, 1e30, 1e300])
def test_peak_learning_rate_far_outside_any_training(tmp_path, scale):
    """A peak LR of 1e-100 or 1e300 overflowed the laws in the fit (LinAlgError)."""
    refused(
        write(tmp_path, table([(s, lr * scale, x) for s, lr, x in GOOD])),
        "column 'lr'",
        "peak learning rate",
        "unit mistake",
    )
    (run,) = read_runs(
        write(tmp_path, table([(s, lr * 1e3, x) for s, lr, x in GOOD]))
    )  # an LR of 1 is fine
    assert run.peak_lr == 1.0


def test_losses_before_the_lr_moves_are_dropped(tmp_path):
    """A log whose LR stays 0 for its first steps: those losses predate training (their LR area is
    0, which made the laws' starting guesses fail inside); they are dropped and said."""
    rows = [(100, 0.0, 4.5), (200, 0.0, 4.5), (300, 1e-3, 4.2)] + [
        (s, 1e-3, x) for s, _, x in GOOD[3:]
    ]
    (run,) = read_runs(write(tmp_path, table(rows)))
    assert run.steps.tolist() == [300, 400, 500, 600, 700]  # the LR rises from 0 after step 200
    assert any("dropped 2 losses up to step 200" in n for n in run.notes)
    (warm,) = read_runs(
        write(tmp_path, table(rows)), warmup_steps=300
    )  # a warmup keeps its logged LRs: the same losses predate training
    assert warm.warmup_steps == 300 and warm.steps.tolist() == run.steps.tolist()
    assert warm.schedule(np.array([100, 200])).tolist() == [0.0, 0.0]
    refused(
        write(tmp_path, table([(s, 0.0 if s < 600 else 1e-3, x) for s, _, x in GOOD])),
        "only 2 usable loss",
        "LR has been 0 since the start",
    )


def test_learning_rates_too_small_to_change_a_weight_are_zero(tmp_path):
    """A denormal LR (2e-317) logged between zeros overflowed the multi-power law's LR^-gamma
    terms."""
    rows = [(s, 1e-3 if s < 400 else 2.2e-317 if s == 400 else 1e-21, x) for s, _, x in GOOD]
    (run,) = read_runs(write(tmp_path, table(rows)))
    assert (
        run.schedule(np.array([400, 500, 700])).tolist() == [0.0, 0.0, 0.0] and run.peak_lr == 1e-3
    )


# --- NaN / inf values -------------------------------------------------------------------------


def test_a_few_nan_or_inf_losses_are_dropped_and_said(tmp_path):
    rows = list(GOOD)
    rows[1] = (200, 1e-3, "nan")
    rows[4] = (500, 1e-3, "inf")
    (run,) = read_runs(write(tmp_path, table(rows)))
    assert 200 not in run.steps and 500 not in run.steps and run.steps.size == len(GOOD) - 2
    assert any("dropped 2 rows" in n and "'loss'" in n for n in run.notes)


def test_mostly_nan_losses_are_refused(tmp_path):
    rows = [(100 * i, 1e-3, "NaN" if i % 5 > 1 else 4 - 0.1 * i) for i in range(1, 11)]
    path = write(tmp_path, table(rows))
    refused(path, "column 'loss'", "6 of 10 values are NaN or infinite", "refusing")
    (lenient,) = read_runs(path, max_bad_fraction=0.7)
    assert lenient.steps.tolist() == [100, 500, 600, 1000]


def test_blank_loss_cells_are_rows_without_a_loss(tmp_path):
    rows = GOOD[:1] + [(150, 1e-3, "")] + GOOD[1:2] + [(250, 2e-3, "")] + GOOD[2:]
    (run,) = read_runs(write(tmp_path, table(rows)), warmup_steps=0)
    assert run.steps.tolist() == [s for s, _, _ in GOOD] and not run.notes
    assert run.schedule(np.array([250]))[0] == 2e-3


def test_nan_learning_rates_are_dropped(tmp_path):
    rows = list(GOOD)
    rows[2] = (300, "nan", 3.7)
    (run,) = read_runs(write(tmp_path, table(rows)), warmup_steps=0)
    assert 300 in run.steps and any("'lr' is NaN" in n for n in run.notes)


# --- learning rates -------------------------------------------------------------------------------


def test_an_lr_log_that_ends_early_is_held_and_said(tmp_path):
    """An LR column blank after row 40 of 171 was held at its step-7152 value to step 23920,
    unsaid."""
    rows = [
        (
            128 * i,
            3e-4 * (1 + math.cos(math.pi * i / 50)) / 2 + 1e-5 if i <= 10 else "",
            4 - 0.01 * i,
        )
        for i in range(1, 51)
    ]
    run = read_runs(write(tmp_path, table(rows)))[0]
    assert any(
        "the logged 'lr' stops at step 1280, 5120 steps before the last loss (step 6400); "
        "the LR after step 1280 is held at its last logged value" in n
        for n in run.notes
    ), run.notes
    assert run.schedule(np.array([6400]))[0] == pytest.approx(run.schedule(np.array([1280]))[0])
    # an LR logged to within one interval (plus 5 % of the run) of the last loss is not worth a note
    nearly = [
        (s, lr if s <= 6016 else "", loss)
        for s, lr, loss in ((128 * i, 1e-3, 4 - 0.01 * i) for i in range(1, 51))
    ]
    assert not any(
        "held" in n for n in read_runs(write(tmp_path, table(nearly), "nearly.csv"))[0].notes
    )


def test_all_zero_learning_rate(tmp_path):
    refused(
        write(tmp_path, table([(s, 0, x) for s, _, x in GOOD])), "column 'lr'", "zero everywhere"
    )


def test_negative_learning_rate(tmp_path):
    rows = list(GOOD)
    rows[3] = (400, -1e-4, 3.6)
    refused(
        write(tmp_path, table(rows)), "column 'lr'", "negative learning rate -0.0001", "step 400"
    )


def test_detected_warmup_and_override(tmp_path):
    rising = [(s, 3e-4 * min(s / 500, 1.0), 6.0 - s / 1000) for s in range(100, 2001, 100)]
    path = write(tmp_path, table(rising))
    (run,) = read_runs(path)
    assert run.warmup_steps == 500 and run.peak_lr == pytest.approx(3e-4)
    early = np.array([100, 300])
    held = LRHistory.of(run.schedule, 500).held
    assert np.all(held[early - 1] == 3e-4)  # the "peak" convention holds the warmup at the peak
    assert np.allclose(run.schedule(early), 3e-4 * early / 500)  # the real warmup ramps up
    (none,) = read_runs(path, warmup_steps=0)
    assert none.warmup_steps == 0 and none.schedule(early).tolist() == [3e-4 / 5, 3e-4 * 3 / 5]
    (longer,) = read_runs(path, warmup_steps=800)
    assert longer.warmup_steps == 800
    refused(path, "warmup of 5000 steps", "step 2000", warmup_steps=5000)


def test_constant_lr_has_no_warmup(tmp_path):
    (run,) = read_runs(write(tmp_path, table(GOOD)))
    assert run.warmup_steps == 0 and np.all(run.schedule(run.steps) == 1e-3)


def test_step_zero(tmp_path):
    rows = [(0, 2e-3, 11.0)] + [(s, 1e-3, x) for s, _, x in GOOD]
    (run,) = read_runs(write(tmp_path, table(rows)), warmup_steps=0)
    assert run.steps[0] == 100 and any("step 0" in n for n in run.notes)
    assert run.schedule(np.array([1]))[0] == 2e-3  # the LR logged at step 0 drives update 1


# --- repeated and unsorted steps -----------------------------------------------------------------


def test_duplicate_steps_keep_the_last_line_logged(tmp_path):
    # a run resumed from its step-200 checkpoint logs steps 300-500 again (300 twice)
    resumed = (
        GOOD[:5]
        + [(300, 1e-3, 9.0), (300, 1e-3, 3.3), (400, 1e-3, 3.2), (500, 1e-3, 3.1)]
        + GOOD[5:]
    )
    (run,) = read_runs(write(tmp_path, table(resumed)))
    assert run.steps.tolist() == [s for s, _, _ in GOOD]
    assert run.loss.tolist() == [3.9, 3.8, 3.3, 3.2, 3.1, 3.4, 3.3]
    assert any("3 steps logged more than once" in n and "step 300" in n for n in run.notes)
    assert not any("sorted" in n for n in run.notes)


def test_unsorted_steps_are_sorted_and_said(tmp_path):
    (run,) = read_runs(write(tmp_path, table(GOOD[::-1])))
    assert run.steps.tolist() == [s for s, _, _ in GOOD] and run.loss.tolist() == [
        x for _, _, x in GOOD
    ]
    assert any("not in order; sorted" in n for n in run.notes)


def test_merged_log_with_lr_and_loss_on_separate_lines(tmp_path):
    rows = [row for s, lr, x in GOOD for row in ((s, lr, ""), (s, "", x))]
    (run,) = read_runs(write(tmp_path, table(rows)))
    assert run.loss.tolist() == [x for _, _, x in GOOD] and not run.notes


# --- loss units -----------------------------------------------------------------------------------


def test_perplexity_detected_by_name(tmp_path):
    rows = [(s, lr, math.exp(x)) for s, lr, x in GOOD]
    (run,) = read_runs(write(tmp_path, table(rows, "step,lr,val_ppl")))
    assert np.allclose(run.loss, [x for _, _, x in GOOD])
    assert any("from ppl to nats" in n for n in run.notes)


def test_perplexity_in_a_loss_column_is_converted_and_said(tmp_path):
    """Issue 13.7: values no loss in nats can take are read as perplexity, with a note."""
    path = write(tmp_path, table([(s, lr, 10 * math.exp(x)) for s, lr, x in GOOD]))
    (run,) = read_runs(path)
    assert np.allclose(run.loss, [x + math.log(10) for _, _, x in GOOD])
    assert any("read column 'loss' as perplexity" in n for n in run.notes), run.notes
    (given,) = read_runs(path, loss_unit="ppl")
    assert np.allclose(given.loss, run.loss)
    assert not any("read column 'loss' as perplexity" in n for n in given.notes)


@pytest.mark.parametrize("low, high", [(2.2, 3.0), (2.5, 4.0)])
def test_a_late_perplexity_of_9_to_20_is_not_read_as_nats(tmp_path, low, high):
    """Issue 13.7: a perplexity of 9-20 (2.2-3.0 nats) was fitted as a loss of 9-20 nats."""
    nats = np.linspace(high, low, 12)
    rows = [(100 * (i + 1), 1e-3, round(math.exp(x), 4)) for i, x in enumerate(nats)]
    (run,) = read_runs(write(tmp_path, table(rows)))
    assert np.allclose(run.loss, nats, atol=1e-4)
    assert any("read column 'loss' as perplexity" in n for n in run.notes), run.notes


def test_a_loss_that_is_neither_nats_nor_perplexity_is_refused(tmp_path):
    rows = [(100 * i, 1e-3, x) for i, x in enumerate([0.5, 25.0, 24.0, 23.0, 22.0], start=1)]
    message = refused(write(tmp_path, table(rows)), "column 'loss'", "ppl or bits")
    assert message.startswith("loss_unit: ")


def test_bits(tmp_path):
    rows = [(s, lr, x / math.log(2)) for s, lr, x in GOOD]
    (named,) = read_runs(
        write(tmp_path, table(rows, "step,lr,loss_bits")), columns=Columns(loss="loss_bits")
    )
    (flagged,) = read_runs(write(tmp_path, table(rows), "b.csv"), loss_unit="bits")
    for run in (named, flagged):
        assert np.allclose(run.loss, [x for _, _, x in GOOD]) and any(
            "from bits" in n for n in run.notes
        )


def test_bad_loss_units(tmp_path):
    with pytest.raises(InputError, match="loss_unit"):
        read_runs(write(tmp_path, table(GOOD)), loss_unit="furlongs")
    refused(
        write(tmp_path, table([(s, lr, 0.5) for s, lr, _ in GOOD]), "p.csv"),
        "perplexity 0.5 < 1",
        loss_unit="ppl",
    )


# --- several runs in one file ---------------------------------------------------------------------


def test_run_column(tmp_path):
    rows = [("b", s, lr, x) for s, lr, x in GOOD] + [("a", s, lr, x + 1) for s, lr, x in GOOD[:4]]
    runs = read_runs(write(tmp_path, table(rows, "run,step,lr,loss"), "sweep.csv"))
    assert [r.name for r in runs] == ["sweep:b", "sweep:a"]
    assert runs[1].loss.tolist() == [x + 1 for _, _, x in GOOD[:4]]
    named = read_runs(
        write(tmp_path, table(rows, "seed,step,lr,loss"), "s2.csv"), columns=Columns(run="seed")
    )
    assert [r.name for r in named] == ["s2:b", "s2:a"]


def test_problems_in_one_run_name_it(tmp_path):
    rows = [("ok", s, lr, x) for s, lr, x in GOOD] + [("bad", s, 0, x) for s, _, x in GOOD]
    message = refused(
        write(tmp_path, table(rows, "run,step,lr,loss")), "(run bad)", "zero everywhere"
    )
    assert "(run ok)" not in message
    blank = [("a", s, lr, x) for s, lr, x in GOOD] + [("", 900, 1e-3, 3.0)]
    refused(
        write(tmp_path, table(blank, "run,step,lr,loss"), "b.csv"),
        "column 'run'",
        "row 9",
        "run name '' is blank",
    )


def test_jump_between_flat_stretches_is_a_step(tmp_path):
    """A drop logged as flat rows, a jump, flat rows (the multi-power-law paper's wsdcon runs)
    is a step at the first row showing the new LR, not a ramp over the logging interval."""
    rows = [(s, 3e-4, 4.0) for s in range(2176, 8000, 128)] + [
        (s, 3e-5, 3.5) for s in (8000, 8128, 8256, 8384)
    ]
    (run,) = read_runs(write(tmp_path, table(rows)), warmup_steps=0)
    assert run.schedule(np.array([7936, 7999, 8000, 8100])).tolist() == [3e-4, 3e-4, 3e-5, 3e-5]
    assert "1 jump between flat stretches kept as step" in run.lr_origin


def test_a_decay_between_rows_stays_linear(tmp_path):
    """A decay that starts between two rows has no flat stretch after the jump: interpolated."""
    rows = [(100 * i, 1e-3, 4.0) for i in range(1, 6)] + [
        (600, 8e-4, 3.9),
        (700, 6e-4, 3.8),
        (800, 4e-4, 3.7),
    ]
    (run,) = read_runs(write(tmp_path, table(rows)), warmup_steps=0)
    assert run.schedule(np.array([550]))[0] == pytest.approx(9e-4)
    assert "jump" not in run.lr_origin


@settings(
    max_examples=60 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    every=st.integers(2, 500),
    levels=st.lists(st.tuples(st.integers(2, 6), st.floats(1e-6, 1e-2)), min_size=2, max_size=5),
)
def test_multistep_logs_read_back_exactly(tmp_path, every, levels):
    """A multi-step schedule logged every ``every`` steps, each level on two or more rows and each
    change on a logged row, is rebuilt exactly at every step."""
    assume(all(abs(b[1] - a[1]) > 1e-3 * a[1] for a, b in zip(levels, levels[1:])))
    lr_rows: list[float] = []
    for n_rows, lr in levels:
        lr_rows += [lr] * n_rows
    steps = every * np.arange(1, len(lr_rows) + 1)
    path = write(tmp_path, table([(s, lr, 3.0) for s, lr in zip(steps, lr_rows)]))
    (run,) = read_runs(path, warmup_steps=0)
    changes = [i for i in range(1, len(lr_rows)) if lr_rows[i] != lr_rows[i - 1]]
    truth = MultiStep(
        lr_rows[0],
        tuple(int(steps[i]) for i in changes),
        tuple(lr_rows[i] / lr_rows[0] for i in changes),
    )
    every_step = np.arange(1, int(steps[-1]) + 1)
    assert np.allclose(run.schedule(every_step), truth(every_step), rtol=1e-12, atol=0)


# --- schedule files -------------------------------------------------------------------------------


def test_read_schedule(tmp_path):
    rows = [(1, 1e-3), (500, 1e-3), (1000, 1e-4)]
    schedule = read_schedule(write(tmp_path, table(rows, "step,lr")), warmup_steps=0)
    assert schedule(np.array([1, 500, 750, 1000])).tolist() == pytest.approx(
        [1e-3, 1e-3, 5.5e-4, 1e-4]
    )
    notes: list[str] = []
    shuffled = read_schedule(
        write(tmp_path, table(rows[::-1] + [(500, 1e-3)], "step,lr"), "s.csv"),
        warmup_steps=0,
        notes=notes,
    )
    assert shuffled(np.array([500, 1000])).tolist() == [1e-3, 1e-4]
    assert any("sorted" in n for n in notes) and any("more than once" in n for n in notes)


def test_a_step_change_written_as_two_rows_at_one_step_is_a_step(tmp_path):
    """Review 11: 10000,3e-4 then 10000,3e-5 (how a drop is written) kept the last value, so
    the LR ramped from step 1 to 10000; it holds to step 9999 and drops at 10000."""
    rows = [(1, 3e-4), (10000, 3e-4), (10000, 3e-5), (20000, 3e-5), (20000, 3e-6), (20001, 3e-6)]
    notes: list[str] = []
    path = write(tmp_path, table(rows, "step,lr"), "drop.csv")
    schedule = read_schedule(path, warmup_steps=0, notes=notes)
    lr = schedule(np.array([1, 5000, 9999, 10000, 15000, 19999, 20000, 20001]))
    assert lr.tolist() == pytest.approx([3e-4, 3e-4, 3e-4, 3e-5, 3e-5, 3e-5, 3e-6, 3e-6])
    assert notes == [
        f"{path}: 2 step changes written as two rows at one step (step 10000, 20000): the LR "
        "changes at that step"
    ]


def test_schedule_file_of_several_runs_is_refused(tmp_path):
    """A run column was ignored: two runs' LRs were merged into one zigzag schedule, said only as
    "sorted"."""
    rows = [("const", s, 1e-3) for s in (100, 200, 300)] + [
        ("cos", s, 1e-3 * (1 + math.cos(s / 300 * math.pi)) / 2) for s in (100, 200, 300)
    ]
    path = write(tmp_path, table(rows, "run,step,lr"), "lr.csv")
    with pytest.raises(
        InputError,
        match=r"lr.csv: holds 2 runs in column 'run' \(const, cos\); a schedule is read "
        r"from one run: give a file \(or TensorBoard folder\) holding only the run",
    ):
        read_schedule(path)
    one = read_schedule(write(tmp_path, table(rows[:3], "run,step,lr"), "one.csv"), warmup_steps=0)
    assert one(np.array([100, 300])).tolist() == [1e-3, 1e-3]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("step,lr\n1,1e-3\n", "at least 2 rows"),
        ("step,loss\n1,3\n2,3\n", "needs step and lr columns"),
        ("step,lr\n1,0\n2,0\n", "zero everywhere"),
        ("step,lr\n1,1e-3\n2,-1e-3\n", "negative learning rate"),
        ("step,lr\n1,1e-3\n2,fast\n", "'fast' is not a number"),
        ("", "empty"),
    ],
)
def test_bad_schedule_files(tmp_path, text, fragment):
    path = write(tmp_path, text, "lr.csv")
    with pytest.raises(InputError, match=fragment) as caught:
        read_schedule(path)
    assert str(path) in str(caught.value)


# --- property tests -------------------------------------------------------------------------------

NUMBER_FORMATS = (repr, "{:.6g}".format, "{:.3e}".format)


@st.composite
def logged_files(draw):
    """A valid log as text, and what reading it must give: {run key: (steps, loss, lr knots)}."""
    names = (
        draw(st.sampled_from(["step", "iter", "_step", "Step", "ITER"])),
        draw(st.sampled_from(["lr", "learning_rate", "train_lr", "LR"])),
        draw(st.sampled_from(["loss", "val_loss", "train_loss", "eval_loss", "Loss"])),
    )
    sep = draw(st.sampled_from([",", "\t"])) + draw(st.sampled_from(["", " "]))
    keys = draw(
        st.lists(st.sampled_from(["a", "run-1", "7", "b c"]), min_size=1, max_size=3, unique=True)
    )
    with_run_column = len(keys) > 1 or draw(st.booleans())
    number = draw(st.sampled_from(NUMBER_FORMATS))
    expected, final, stale = {}, [], []
    for key in keys:
        steps = draw(st.lists(st.integers(1, 10**6), min_size=3, max_size=25, unique=True))
        lr_only = draw(
            st.lists(
                st.integers(1, 10**6).filter(lambda s, taken=steps: s not in taken),
                max_size=5,
                unique=True,
            )
        )
        cells = []
        for step in steps + lr_only:
            lr = number(draw(st.floats(1e-6, 1e-1)))
            loss = number(draw(st.floats(0.5, 11.0))) if step in steps else ""
            cells.append((key, str(step) if draw(st.booleans()) else f"{step}.0", lr, loss))
            if (
                draw(st.integers(0, 5)) == 0
            ):  # logged again earlier in the file; the later line wins
                stale.append(
                    (
                        (key, str(step), number(draw(st.floats(1e-6, 1e-1))), loss and "9.5"),
                        len(final) + len(cells) - 1,
                    )
                )
        final += cells
        order = sorted(steps)
        knots = sorted(steps + lr_only)
        by_step = {int(float(c[1])): c for c in cells}
        expected[key] = (
            order,
            [float(by_step[s][3]) for s in order],
            knots,
            [float(by_step[s][2]) for s in knots],
        )
    lines = draw(st.permutations(list(range(len(final)))))
    rows = [final[i] for i in lines]
    for row, target in stale:
        at = rows.index(final[target])
        rows.insert(draw(st.integers(0, at)), row)
    header = ("run",) * with_run_column + names
    text = (
        sep.join(header)
        + "\n"
        + "".join(sep.join(row[not with_run_column :]) + "\n" for row in rows)
    )
    return text, expected, with_run_column, bool(stale)


@settings(
    max_examples=150 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(logged=logged_files())
def test_valid_logs_read_back_exactly(tmp_path, logged):
    text, expected, with_run_column, has_stale = logged
    path = write(tmp_path, text, "log.csv")
    # the unit given: a whole curve of 8.3-11 is read as perplexity otherwise (issue 13.7)
    runs = read_runs(path, warmup_steps=0, smooth="none", loss_unit="nats")
    names = [f"log:{k}" for k in expected] if with_run_column else ["log"]
    assert sorted(r.name for r in runs) == sorted(names)
    for run in runs:
        steps, loss, knots, lrs = (
            expected[run.name.split(":", 1)[1]]
            if with_run_column
            else next(iter(expected.values()))
        )
        assert run.steps.tolist() == steps
        assert run.loss.tolist() == loss
        assert run.schedule(np.array(knots)).tolist() == lrs
        assert run.warmup_steps == 0
    assert has_stale == any("logged more than once" in n for r in runs for n in r.notes)


CELLS = st.one_of(
    st.sampled_from(
        [
            "step",
            "lr",
            "loss",
            "run",
            "val_loss",
            "iter",
            "nan",
            "inf",
            "-inf",
            "",
            " ",
            "0",
            "1",
            "-1",
            "2",
            "3",
            "1e9",
            "1e400",
            "abc",
            '"',
            "0.5",
            "3.2",
            "1e-3",
            "{",
            "[",
            "ppl",
        ]
    ),
    st.floats(allow_nan=True).map(repr),
    st.integers(-10, 10**12).map(str),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=4),
)


@st.composite
def malformed_texts(draw):
    sep = draw(st.sampled_from([",", "\t", ";", "|"]))
    header = draw(
        st.sampled_from(["step,lr,loss", "run,step,lr,loss", "iter,train_lr,train_loss", ""])
    ).replace(",", sep)
    lines = draw(st.lists(st.lists(CELLS, max_size=5).map(sep.join), max_size=12))
    return (header + "\n" * draw(st.booleans()) + "\n".join(lines)).encode()


def check_valid(runs: list) -> None:
    for run in runs:
        assert run.steps.size >= 3 and np.all(np.diff(run.steps) > 0) and run.steps[0] >= 1
        assert np.all(np.isfinite(run.loss)) and np.all(run.loss >= 0)
        lr = run.schedule(run.steps)
        assert np.all(np.isfinite(lr)) and np.all(lr >= 0) and run.peak_lr > 0


@settings(
    max_examples=300 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.one_of(malformed_texts(), st.binary(max_size=200)))
def test_malformed_input_is_read_or_refused_never_crashes(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    for read in (read_runs, read_schedule):
        try:
            result = read(path)
        except InputError as error:
            assert "\n" not in str(error) and str(path) in str(error)
            continue
        if read is read_runs:
            check_valid(result)
        else:
            lr = result(np.arange(1, result.horizon + 1))
            assert np.all(np.isfinite(lr)) and np.all(lr >= 0) and result.peak > 0


# --- issue 13: live logs, ambiguous columns, paths, limits ----------------------------------


@pytest.mark.parametrize("header", ["step,lr,loss,LOSS", "step,Step,lr,loss"])
def test_columns_equal_ignoring_case_are_refused_naming_both(tmp_path, header):
    """Issue 13.6: with `loss` and `LOSS` in one file, `LOSS` was fitted silently."""
    rows = [(s, lr, x, x + 1) for s, lr, x in GOOD]
    first, second = [n for n in header.split(",") if header.lower().count(n.lower()) > 1]
    refused(
        write(tmp_path, table(rows, header)), f"{first!r} and {second!r}", "differ only in case"
    )


def test_a_column_named_exactly_is_taken_even_beside_one_differing_in_case(tmp_path):
    rows = [(s, lr, x, x + 1) for s, lr, x in GOOD]
    (run,) = read_runs(
        write(tmp_path, table(rows, "step,lr,loss,LOSS")), columns=Columns(loss="LOSS")
    )
    assert run.loss.tolist() == [x + 1 for _, _, x in GOOD]


def test_bare_loss_is_preferred_to_train_loss(tmp_path):
    """Issue 16.8: with `train_loss` and `loss` columns, `train_loss` was fitted; `loss` is
    meant."""
    rows = [(s, lr, x + 1, x) for s, lr, x in GOOD]
    (run,) = read_runs(write(tmp_path, table(rows, "step,lr,train_loss,loss")))
    assert run.loss.tolist() == [x for _, _, x in GOOD]
    (train,) = read_runs(
        write(tmp_path, table(rows, "step,lr,train_loss,loss"), "t.csv"),
        loss="train",
        smooth="none",
    )
    assert train.loss.tolist() == [x + 1 for _, _, x in GOOD]


def test_a_symlink_loop_is_one_line(tmp_path):
    """Issue 13.11: a symlink loop was "internal error: RuntimeError"."""
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    refused(loop, "cannot read")
    with pytest.raises(InputError, match="loop.csv"):
        read_schedule(loop)


def test_cli_refuses_a_symlink_loop_with_one_line(tmp_path):
    import subprocess
    import sys

    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    r = subprocess.run(
        [sys.executable, "-m", "lrcurve", "fit", "loop.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "loop.csv" in r.stderr and "internal" not in r.stderr


# the LR last, as the log had it: a row cut in it still has every field
LIVE = table([(100 * i, 4.0 - 0.1 * i, 3.170452527640976e-05) for i in range(1, 8)], "step,loss,lr")


@pytest.mark.parametrize(
    "last, why",
    [
        (
            "800,3.2,3.170452527640976e-0",
            "'lr' 3.17045 is over 10x any earlier value",
        ),  # the issue's
        ("800,3.2,3.170452527640976e-", "'lr' is not a number"),
        ("800,3.2,3.1704", "'lr' 3.1704 is over 10x"),
        ("800,3.", "it has 2 of the header's 3 fields"),
        ("80", "it has 1 of the header's 3 fields"),
        ("80,3.2,3.170452527640976e-05", "step 80 is below an earlier step"),
        ("800,3.2,3.170452527640976e-05", None),  # complete: kept
        ("800,3.,3.170452527640976e-05", "'loss' 3. has fewer digits than any earlier"),
        ("800,3.2,3.17e-05", "'lr' 3.17e-05 has fewer digits than any earlier value (16"),
        ("800,3.2,0", None),  # the LR fallen to 0: no digits to compare, kept
        ("800,3.2,0.0", None),  # a zero cut from 3.17e-05 would not read 0.0: kept
        ("800,3.25,3.170452527640976e-05", None),  # more digits than before: kept
    ],
)
def test_a_row_cut_mid_write_at_the_end_of_a_live_log(tmp_path, last, why):
    """Issue 13.4: a last line cut mid-number was read as LR 3.17, 10^4x the peak; a loss cut
    to fewer digits than every earlier one (``3`` for ``3.4066``) made check report drift."""
    path = write(tmp_path, LIVE + last)
    (run,) = read_runs(path)
    cut = [n for n in run.notes if "dropped the last row" in n]
    if why is None:
        assert run.last_step == 800 and not cut
        return
    assert run.last_step == 700 and run.peak_lr == pytest.approx(3.170452527640976e-05)
    assert run.notes == tuple(cut)
    assert len(cut) == 1 and why in cut[0] and "does not end in a newline" in cut[0], cut


def test_a_zero_cut_from_a_small_lr_at_the_end_of_a_live_log(tmp_path):
    """Review 11: '24032,3.3011,0.000' cut from 0.0003 was kept: the LR 'fell to 0' at the last
    step. A zero with fewer decimals than every earlier LR is cut; '0' and a zero with as
    many decimals are an LR fallen to 0."""
    rows = table([(100 * i, 4.0 - 0.1 * i, 0.0003) for i in range(1, 8)], "step,loss,lr")
    for last, cut in (("800,3.2,0.000", True), ("800,3.2,0", False), ("800,3.2,0.0000", False)):
        (run,) = read_runs(write(tmp_path, rows + last, "live.csv"))
        assert (run.last_step == 700) is cut, last
        assert any("is a zero with fewer decimals" in n for n in run.notes) is cut, run.notes


def test_a_cut_row_inside_a_file_is_refused_and_a_complete_file_is_read_whole(tmp_path):
    refused(write(tmp_path, LIVE + "800,3.2,3.17e-\n900,3.1,3e-5\n"), "row 9", "'3.17e-'")
    (run,) = read_runs(write(tmp_path, LIVE + "800,3.2,3.170452527640976e-0\n", "done.csv"))
    assert run.peak_lr == pytest.approx(3.170452527640976)  # it ends in a newline: no live row


def test_reading_in_chunks_gives_the_same_runs_and_row_numbers(tmp_path, monkeypatch):
    import lrcurve.io.table as table_module

    rows = [(i, 1e-3, 4.0 - 1e-4 * i) for i in range(1, 60)]
    path = write(tmp_path, table(rows))
    (whole,) = read_runs(path)
    monkeypatch.setattr(table_module, "CHUNK_CELLS", 21)  # 7 rows
    (chunked,) = read_runs(path)
    assert (
        chunked.steps.tolist() == whole.steps.tolist()
        and chunked.loss.tolist() == whole.loss.tolist()
    )
    bad = write(tmp_path, table(rows[:40]) + "41,1e-3,oops\n" + table(rows[41:])[13:], "bad.csv")
    refused(bad, "row 42", "'oops'")


def test_dev_zero_is_refused_at_once():
    """Issue 13.10: `fit /dev/zero` read the whole (endless) stream before the binary check."""
    import time

    start = time.monotonic()
    with pytest.raises(InputError, match="binary"):
        read_runs("/dev/zero")
    assert time.monotonic() - start < 5


def test_a_table_too_large_for_memory_is_refused_up_front(tmp_path, monkeypatch):
    import lrcurve.io.files as files

    path = write(tmp_path, table(GOOD))
    monkeypatch.setattr(files, "available_memory", lambda: 100)
    message = refused(path, "too large to read", "GiB")
    assert "MemoryError" not in message


def test_a_smoothing_window_over_half_the_run_is_refused():
    """Review 11: --smooth window:100000 flattened every run to its mean (R^2 -1.5e25)."""
    from lrcurve.errors import ParameterError

    with pytest.raises(ParameterError, match=r"window:100000: a window over half of .*171 points"):
        read_runs(SAMPLES / "constant.csv", smooth="window:100000")
    assert read_runs(SAMPLES / "constant.csv", smooth="window:11")[0].loss.size == 171


def test_a_schedule_file_that_starts_late_says_what_came_before(tmp_path):
    """Review 11: a schedule file starting at step 1000 held its first LR back to step 1
    without a word; with a warmup it rises from 0, as said."""
    path = write(tmp_path, table([(1000, 3e-4), (20000, 3e-4), (24000, 0.0)], "step,lr"), "l.csv")
    notes: list[str] = []
    schedule = read_schedule(path, warmup_steps=0, notes=notes)
    assert schedule(np.array([1, 999])).tolist() == pytest.approx([3e-4, 3e-4])
    assert notes == [
        f"{path}: the schedule starts at step 1000; the LR before it is taken as its first "
        "value, 0.0003"
    ]
    notes.clear()
    read_schedule(path, warmup_steps=2000, notes=notes)
    assert not any("starts at step" in n for n in notes)
