"""Fuzz every command with malformed input: each run ends in a result (exit 0) or in one
``lrcurve: error:`` line with exit 2 — never a traceback, never exit 1 (an internal error),
and a refused command writes nothing.

Five tests of 200 examples and one of 60 (1,060 inputs), with the reader fuzz of
``test_readers.py`` (450 more), make over 1,500 malformed inputs per run; four more of 25
cover issue 13's gate classes (NaN/inf tails in ``check``, live logs cut mid-row, columns
equal but for case, losses in other units). The commands run in-process through
``lrcurve.cli.main()``; ``LRCURVE_FUZZ_SCALE`` multiplies every count (``make fuzz``).
"""

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import FUZZ_SCALE, SAMPLES, data_path, run_lrcurve
from tests.test_readers import malformed_texts

FUZZ = settings(
    max_examples=200 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WEIRD = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1e400",
    "1e-400",
    "abc",
    "",
    " ",
    "3e-4",
    "0.5",
    "2",
    "72000",
    "1,2",
    "[1]",
    "--json",
    "-",
    "1e20",
    "0x10",
    "١٢",
    "None",
]


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("fit")
    run_cli(
        directory,
        "fit",
        SAMPLES / "constant.csv",
        SAMPLES / "cosine.csv",
        "--warmup",
        "2160",
        "-o",
        "fit.json",
    )
    return directory / "fit.json"


def run_cli(directory: Path, *args: object) -> tuple[int, str, str]:
    """``lrcurve ARGS`` in ``directory``: exit code, stdout, stderr."""
    result = run_lrcurve(*args, cwd=directory)
    return result.returncode, result.stdout, result.stderr


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def check_outcome(
    directory: Path,
    before: dict[str, bytes],
    code: int,
    out: str,
    err: str,
    json_out: bool,
    drift_allowed: bool = False,
) -> None:
    assert "Traceback" not in err, err
    if drift_allowed and code == 1:  # `check`: the run drifted or diverged: a result, no error
        verdict = ("DRIFT", "DIVERGED", '"drift"', '"diverged"')
        assert any(word in out + err for word in verdict), (out, err)
        return
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert lines and lines[-1].startswith("lrcurve: error: ") and "\n" not in lines[-1], err
        assert snapshot(directory) == before, "a refused command wrote or changed a file"
    elif json_out:
        json.loads(out)  # machine output stays valid JSON whatever stderr says


def fuzz_dir(tmp_path: Path, name: str) -> Path:
    directory = tmp_path / name
    directory.mkdir(exist_ok=True)
    for stale in directory.iterdir():
        stale.unlink()
    return directory


@FUZZ
@given(
    data=st.one_of(malformed_texts(), st.binary(max_size=300)),
    command=st.sampled_from(["fit", "lr-horizon", "fit-power"]),
    json_out=st.booleans(),
)
def test_commands_that_read_tables(tmp_path, data, command, json_out):
    directory = fuzz_dir(tmp_path, "tables")
    (directory / "in.csv").write_bytes(data)
    before = snapshot(directory)
    args = [command, "in.csv"] if command != "lr-horizon" else [command, "--table", "in.csv"]
    if command == "fit":
        args += ["-o", "out.json"]
    code, out, err = run_cli(directory, *args, *(["--json"] if json_out else []))
    check_outcome(directory, before, code, out, err, json_out)


def wandb_like() -> st.SearchStrategy[bytes]:
    """Real W&B exports cut short, with values swapped for junk, or JSON of the wrong shape."""
    real = data_path("lr-scheduling", "data").glob(
        "ann0.2_slimpajama_llama_norm_nlayers8_nhead6_*iter3000*.json"
    )
    text = next(real).read_text()
    doc = json.loads(text)
    junk = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=5),
        st.lists(st.floats(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )

    @st.composite
    def mutated(draw):
        d = json.loads(text)
        section = draw(st.sampled_from(["config", "history"]))
        keys = list(d[section])
        key = draw(st.sampled_from(keys))
        if (
            section == "history"
            and isinstance(d[section][key], dict)
            and d[section][key]
            and draw(st.booleans())
        ):
            series = d[section][key]
            inner = draw(st.sampled_from(list(series)))
            series[inner] = draw(junk)
        else:
            d[section][key] = draw(junk)
        return json.dumps(d).encode()

    truncated = st.integers(0, len(text)).map(lambda n: text[:n].encode())
    shapes = st.recursive(
        st.none() | st.floats() | st.text(max_size=4),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["history", "config", "name", "train", "val", "iter"]),
                inner,
                max_size=3,
            )
        ),
        max_leaves=8,
    ).map(lambda v: json.dumps(v).encode())
    assert doc["history"]
    return st.one_of(truncated, mutated(), shapes)


@FUZZ
@given(
    data=wandb_like(),
    loss=st.sampled_from(["val", "train", "val_loss", "nope"]),
    json_out=st.booleans(),
)
def test_fit_reads_malformed_wandb_exports(tmp_path, data, loss, json_out):
    directory = fuzz_dir(tmp_path, "wandb")
    (directory / "run.json").write_bytes(data)
    before = snapshot(directory)
    code, out, err = run_cli(
        directory,
        "fit",
        "run.json",
        "--loss",
        loss,
        "--parent",
        "none",
        "-o",
        "out.json",
        *(["--json"] if json_out else []),
    )
    check_outcome(directory, before, code, out, err, json_out)


SCHEDULE_FLAGS = [
    "--steps",
    "--peak",
    "--warmup",
    "--decay",
    "--shape",
    "--floor",
    "--period",
    "--cycle",
    "--milestones",
    "--factors",
    "--at-step",
    "--then",
    "--a",
    "--b",
    "--batch",
    "--tokens-per-step",
]


@FUZZ
@given(
    command=st.sampled_from(["predict", "schedule show", "optimize", "check"]),
    family=st.sampled_from(
        ["wsd", "cosine", "constant", "cyclic", "multistep", "power", "rewarmup", "file", "zig"]
    ),
    flags=st.lists(st.tuples(st.sampled_from(SCHEDULE_FLAGS), st.sampled_from(WEIRD)), max_size=4),
    json_out=st.booleans(),
)
def test_commands_with_malformed_flags(tmp_path, fit_file, command, family, flags, json_out):
    directory = fuzz_dir(tmp_path, "flags")
    before = snapshot(directory)
    args = command.split()
    if command == "predict":
        args += [fit_file, "--schedule", family]
    elif command == "schedule show":
        args += [family]
    elif command == "optimize":
        args += [fit_file, "--family", family if family in ("wsd", "cosine", "rewarmup") else "wsd"]
        flags = [
            (f, v)
            for f, v in flags
            if f in ("--steps", "--peak", "--warmup", "--decay", "--shape", "--floor")
        ]
    else:
        args += [fit_file, SAMPLES / "wsd.csv"]
        flags = [(f, v) for f, v in flags if f in ("--warmup",)] + [
            ("--tolerance", v) for _, v in flags[:1]
        ]
    for flag, value in flags:
        args += [flag, value]
    code, out, err = run_cli(directory, *args, *(["--json"] if json_out else []))
    check_outcome(directory, before, code, out, err, json_out, drift_allowed=command == "check")


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=200).map(str.encode),
        st.builds(
            lambda d: json.dumps(d).encode(),
            st.dictionaries(
                st.sampled_from(["law", "params", "runs", "covariance", "skip_fraction"]),
                st.one_of(
                    st.none(),
                    st.integers(),
                    st.text(max_size=4),
                    st.lists(st.integers(), max_size=2),
                ),
                max_size=5,
            ),
        ),
    )
)
def test_predict_with_a_damaged_fit_file(tmp_path, data):
    directory = fuzz_dir(tmp_path, "fitfile")
    (directory / "fit.json").write_bytes(data)
    before = snapshot(directory)
    code, out, err = run_cli(
        directory, "predict", "fit.json", "--schedule", "wsd", "--steps", "1000", "--json"
    )
    check_outcome(directory, before, code, out, err, True)


@settings(
    max_examples=60 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(min_size=1, max_size=200))
def test_tensorboard_named_junk(tmp_path, data):
    directory = fuzz_dir(tmp_path, "tb")
    (directory / "events.out.tfevents.1.host").write_bytes(data)
    before = snapshot(directory)
    code, out, err = run_cli(directory, "fit", ".", "-o", "out.json")
    check_outcome(directory, before, code, out, err, False)


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=4),
        st.sampled_from(
            [
                10**400,
                2**63,
                -1,
                0,
                1,
                0.5,
                1e308,
                5e-324,
                -0.0,
                "nan",
                "wsd",
                "constant",
                "momentum",
            ]
        ),
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["kind", "value", "steps", "name", "x"]), inner, max_size=2
        )
    ),
    max_leaves=6,
)
NUMBERS = st.one_of(
    st.floats(allow_nan=False),
    st.integers(-(10**12), 10**12),
    st.sampled_from(
        [0, 1, -1, 2, 0.5, 1e-300, 5e-324, 1e308, 1e30, -0.0, 10**400, 2**63, 50_000_001]
    ),
)


def json_paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document: the keys and indices that lead to it (long lists: a few
    items)."""
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i in sorted({0, 1, len(value) // 2, len(value) - 1} & set(range(len(value)))):
            paths += json_paths(value[i], (*prefix, i))
    return paths


def put(document: object, path: tuple, value: object) -> object:
    """``document`` with the value at ``path`` replaced (the root when ``path`` is empty)."""
    if not path:
        return value
    put(document[path[0]], path[1:], value) if len(path) > 1 else document.__setitem__(
        path[0], value
    )
    return document


@FUZZ
@given(
    data=st.data(),
    command=st.sampled_from(["predict", "optimize", "check"]),
    json_out=st.booleans(),
)
def test_any_value_anywhere_in_a_fit_file(tmp_path, fit_file, data, command, json_out):
    """A real fit file with one to three values replaced by any JSON value: predicted from or
    refused."""
    document = json.loads(fit_file.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(json_paths(document)))
        number = isinstance(
            functools.reduce(lambda value, key: value[key], path, document), (int, float)
        )
        document = put(
            document,
            path,
            data.draw(NUMBERS if number and data.draw(st.booleans()) else JSON_VALUES),
        )
    directory = fuzz_dir(tmp_path, "fitvalues")
    (directory / "fit.json").write_text(json.dumps(document))
    before = snapshot(directory)
    args = {
        "predict": [
            "predict",
            "fit.json",
            "--schedule",
            data.draw(st.sampled_from(["wsd", "cosine", "rewarmup"])),
        ],
        "optimize": [
            "optimize",
            "fit.json",
            "--family",
            data.draw(st.sampled_from(["wsd", "cosine", "rewarmup"])),
            "--fractions",
            "0.1,0.3",
            "--shapes",
            "linear",
            "--periods",
            "1",
            "--floors",
            "0",
            "--max-lrs",
            "0.5",
            "--rewarmups",
            "10",
        ],
        "check": ["check", "fit.json", SAMPLES / "wsd.csv"],
    }[command]
    code, out, err = run_cli(directory, *args, *(["--json"] if json_out else []))
    check_outcome(directory, before, code, out, err, json_out, drift_allowed=command == "check")


SCALES = [10.0**k for k in (-320, -200, -100, -30, -8, -4, 0, 3, 30, 100, 300)]


@st.composite
def extreme_tables(draw) -> bytes:
    """Well-formed step,lr,loss tables whose numbers are extreme: tiny or huge scales, zeros, -0,
    denormals, huge steps."""
    n = draw(st.integers(3, 25))
    last = draw(st.sampled_from([n, 1000, 100_000] * 3 + [50_000_000, 50_000_001, 10**20]))
    steps = sorted(set(draw(st.lists(st.integers(0, last), min_size=n, max_size=n)) + [last]))
    lr_scale = draw(st.sampled_from([1e-4] * len(SCALES) + SCALES))  # half of them plausible
    loss_scale = draw(st.sampled_from([1.0] * len(SCALES) + SCALES))
    lr_shape = draw(st.sampled_from(["constant", "decay", "decay to 0", "drop", "any"]))
    position = np.linspace(0, 1, len(steps))
    lr = {
        "constant": np.ones_like(position),
        "decay": 1 - 0.9 * position,
        "decay to 0": 1 - position,
        "drop": np.where(position < 0.7, 1.0, 1e-300),
        "any": np.array(draw(st.lists(st.floats(0, 1), min_size=len(steps), max_size=len(steps)))),
    }[lr_shape] * lr_scale
    loss = (3 + 1 / np.sqrt(np.asarray(steps, dtype=float) + 1)) * loss_scale
    cells = [[str(s), repr(float(r)), repr(float(v))] for s, r, v in zip(steps, lr, loss)]
    for _ in range(draw(st.integers(0, 3))):  # a few odd cells
        row, column = draw(st.integers(0, len(cells) - 1)), draw(st.integers(1, 2))
        cells[row][column] = draw(
            st.sampled_from(
                ["0", "-0", "-0.0", "5e-324", "1e308", "1.7976931348623157e308", "nan", "1e-320"]
            )
        )
    return ("step,lr,loss\n" + "\n".join(",".join(row) for row in cells) + "\n").encode()


@settings(
    max_examples=25 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    table=extreme_tables(), law=st.sampled_from(["momentum", "multipower"]), json_out=st.booleans()
)
@example(
    table=b"step,lr,loss\n50,1e-320,3.14e-320\n51,1e-320,3.139e-320\n52,1e-320,3.137e-320\n1000,1e-320,3.03e-320\n",
    law="momentum",
    json_out=False,
)  # vanishing LR and loss: the fit divided by them
@example(
    table=b"step,lr,loss\n0,0.0,4.0\n5000,0.0,3.01414\n5001,0.0,3.01413\n5002,0.0,3.01413\n100000,0.0001,3.00316\n",
    law="momentum",
    json_out=False,
)  # losses before the LR leaves 0: an LR area of 0
@example(
    table=b"step,lr,loss\n1,0.0,3.7\n1418,0.0,3.02\n3978,0.0001,3.015\n5125,2.225074e-317,3.013\n8392,0.0,3.0109\n"
    b"8393,0.0,3.0108\n8394,0.0,3.0107\n100000,0.0001,3.003\n",
    law="multipower",
    json_out=False,
)  # a denormal LR
def test_fit_tables_with_extreme_numbers(tmp_path, table, law, json_out):
    directory = fuzz_dir(tmp_path, "extreme")
    (directory / "in.csv").write_bytes(table)
    before = snapshot(directory)
    code, out, err = run_cli(
        directory,
        "fit",
        "in.csv",
        "--law",
        law,
        "-o",
        "out.json",
        *(["--json"] if json_out else []),
    )
    check_outcome(directory, before, code, out, err, json_out)


EXTREME = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "-1",
            "2",
            "1e-300",
            "5e-324",
            "1e308",
            "1.7976931348623157e308",
            "-0",
            "99999999999999999999999",
            "50000001",
            "0.999999",
            "3e-4",
            "1000",
        ]
    ),
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
POWER_FLAGS = [
    "--a",
    "--b",
    "--batch",
    "--tokens",
    "--peak",
    "--seq-len",
    "--tokens-per-step",
    "--warmup",
    "--decay",
    "--floor",
    "--lam",
]
COMMAND_FLAGS = {
    "predict": [
        "--steps",
        "--peak",
        "--warmup",
        "--decay",
        "--floor",
        "--period",
        "--cycle",
        "--at-step",
        "--every",
    ],
    "schedule show": [
        "--steps",
        "--peak",
        "--warmup",
        "--decay",
        "--floor",
        "--period",
        "--cycle",
        "--lam",
        "--a",
        "--b",
        "--batch",
        "--tokens-per-step",
    ],
    "optimize": [
        "--steps",
        "--peak",
        "--warmup",
        "--at-step",
        "--score-step",
        "--top",
        "--decay",
        "--floor",
        "--fractions",
        "--floors",
        "--periods",
        "--max-lrs",
        "--rewarmups",
    ],
    "check": ["--tolerance", "--windows", "--warmup", "--steps", "--peak"],
    "fit": ["--skip", "--warmup"],
    "lr-horizon": ["--tokens-per-step", "--target", "--span"],
    "fit-power": [
        "--batch",
        "--tokens",
        "--seq-len",
        "--tokens-per-step",
        "--peak",
        "--warmup",
        "--decay",
        "--floor",
    ],
}


@pytest.fixture(scope="module")
def sweeps_file(tmp_path_factory) -> Path:
    from tests.test_power import write_sweeps

    return write_sweeps(tmp_path_factory.mktemp("sweeps") / "sweeps.csv")


@FUZZ
@given(
    data=st.data(),
    command=st.sampled_from([*COMMAND_FLAGS, "schedule power"]),
    json_out=st.booleans(),
)
def test_numeric_flags_with_extreme_values(
    tmp_path, fit_file, sweeps_file, data, command, json_out
):
    """Every numeric flag given a huge, tiny, negative or fractional number: a result or one error
    line."""
    directory = fuzz_dir(tmp_path, "numbers")
    before = snapshot(directory)
    names = POWER_FLAGS if command == "schedule power" else COMMAND_FLAGS[command]
    flags = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=4))
    args = {
        "predict": [
            "predict",
            fit_file,
            "--schedule",
            data.draw(st.sampled_from(["wsd", "cosine", "cyclic", "rewarmup"])),
        ],
        "schedule show": [
            "schedule",
            "show",
            data.draw(st.sampled_from(["wsd", "cosine", "cyclic", "constant", "power"])),
            "--steps",
            "1000",
            "--peak",
            "1e-3",
        ],
        "schedule power": [
            "schedule",
            "power",
            "--a",
            "4.6",
            "--b",
            "-0.51",
            "--batch",
            "1024",
            "--tokens",
            "1e9",
            "--peak",
            "0.02",
            "--seq-len",
            "4096",
        ],
        "optimize": [
            "optimize",
            fit_file,
            "--family",
            data.draw(st.sampled_from(["wsd", "cosine", "rewarmup"])),
            "--fractions",
            "0.1,0.2",
            "--shapes",
            "linear",
            "--periods",
            "1",
            "--max-lrs",
            "0.5",
            "--rewarmups",
            "10",
        ],
        "check": ["check", fit_file, SAMPLES / "wsd.csv"],
        "fit": ["fit", SAMPLES / "constant.csv", SAMPLES / "cosine.csv", "-o", "out.json"],
        "lr-horizon": [
            "lr-horizon",
            "--table",
            data_path("lr-scheduling", "index.csv"),
            "--where",
            "family=ann124-0.1",
        ],
        "fit-power": [
            "fit-power",
            sweeps_file,
            "--batch",
            "256",
            "--tokens",
            "1e11",
            "--seq-len",
            "4096",
            "--peak",
            "0.02",
        ],
    }[command]
    if command in ("schedule power", "fit-power") and "--tokens-per-step" in flags:
        args.remove("--seq-len"), args.remove("4096")  # the flag gives the tokens per step
    for flag in flags:
        if flag in args:
            i = args.index(flag)
            del args[i : i + 2]
        args += [flag, data.draw(EXTREME)]
    code, out, err = run_cli(directory, *args, *(["--json"] if json_out else []))
    check_outcome(directory, before, code, out, err, json_out, drift_allowed=command == "check")


@pytest.mark.parametrize(
    "args",
    [
        [
            "fit-power",
            "SWEEPS",
            "--batch",
            "256",
            "--tokens",
            "1e11",
            "--seq-len",
            "4096",
            "--decay",
            "1",
        ],  # ZeroDivisionError
        [
            "fit-power",
            "SWEEPS",
            "--batch",
            "256",
            "--tokens",
            "1e308",
            "--seq-len",
            "4096",
        ],  # 1e300 steps: a dtype error
        [
            "schedule",
            "power",
            "--a",
            "4.6",
            "--b",
            "-0.5",
            "--batch",
            "1",
            "--tokens",
            "1e9",
            "--peak",
            "0.02",
            "--tokens-per-step",
            "1e-300",
        ],  # tokens / tokens-per-step overflowed math.ceil
        [
            "optimize",
            "FIT",
            "--steps",
            "99999999999999999999999",
        ],  # "Maximum allowed size exceeded"
    ],
)
def test_extreme_flags_found_by_the_fuzz(tmp_path, fit_file, sweeps_file, args):
    directory = fuzz_dir(tmp_path, "found")
    args = [{"SWEEPS": sweeps_file, "FIT": fit_file}.get(a, a) for a in args]
    code, out, err = run_cli(directory, *args)
    check_outcome(directory, {}, code, out, err, False)


# Issue 13's classes: a gate that never passes a broken run, and no silent misreads.
GATE = settings(
    max_examples=25 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WSD_ROWS = (SAMPLES / "wsd.csv").read_text().splitlines()
PEAK = 3e-4


@GATE
@given(
    tail=st.integers(1, len(WSD_ROWS) - 10),
    values=st.lists(st.sampled_from(["nan", "inf", "-inf", "NaN", "Infinity"]), min_size=1),
    holes=st.lists(st.integers(1, len(WSD_ROWS) - 1), max_size=3),
    json_out=st.booleans(),
    direction=st.sampled_from([None, "worse", "better", "both"]),
)
def test_check_never_passes_a_run_that_diverged(
    tmp_path, fit_file, tail, values, holes, json_out, direction
):
    """A log whose last ``tail`` losses are NaN/inf (after finite ones) is DIVERGED, exit 1, in
    any direction; a few isolated NaN losses before the tail are rows not evaluated (a gate
    fails a long NaN stretch or an inf mid-log: tests/test_check.py)."""
    directory = fuzz_dir(tmp_path, "diverged")
    rows = [line.split(",") for line in WSD_ROWS]
    first = len(rows) - tail
    for i in range(first, len(rows)):
        rows[i][2] = values[i % len(values)]
    for i in holes:
        if i < first:
            rows[i][2] = "nan"
    (directory / "run.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    before = snapshot(directory)
    args = ["check", fit_file, "run.csv", *(["--direction", direction] if direction else [])]
    code, out, err = run_cli(directory, *args, *(["--json"] if json_out else []))
    check_outcome(directory, before, code, out, err, json_out, drift_allowed=True)
    start = first  # a hole just before the tail joins it: the divergence starts there
    while start - 1 in holes:
        start -= 1
    if code != 2:  # refused only when too few finite losses are left before the tail
        assert code == 1 and f"diverged at step {rows[start][0]}" in out + err, (out, err)
        if json_out:
            assert json.loads(out)["status"] == "diverged"
    else:
        assert first - len(holes) < 30, err


@GATE
@given(cut=st.integers(0, 60), command=st.sampled_from(["fit", "check"]))
def test_a_live_log_cut_anywhere_in_its_last_row_is_never_misread(tmp_path, fit_file, cut, command):
    """The file check reads is often still being written: its last row cut anywhere (a writer
    writes the newline last) must not be read as an absurd LR (a cut ``3.17e-05`` read as 3.17
    was saved as the peak LR) nor fail a healthy run."""
    directory = fuzz_dir(tmp_path, "live")
    text = "\n".join(WSD_ROWS[:-1]) + "\n" + WSD_ROWS[-1][: max(1, len(WSD_ROWS[-1]) - cut)]
    (directory / "live.csv").write_text(text)
    before = snapshot(directory)
    if command == "fit":
        code, out, err = run_cli(directory, "fit", "live.csv", "--warmup", "2160", "-o", "o.json")
        check_outcome(directory, before, code, out, err, False)
        if code == 0:
            saved = json.loads((directory / "o.json").read_text())
            assert saved["peak_lr"] == pytest.approx(PEAK), err
    else:
        code, out, err = run_cli(directory, "check", fit_file, "live.csv", "--json")
        assert code == 0, (out, err)  # the healthy WSD run, however its last row was cut
        assert json.loads(out)["status"] == "ok"


@GATE
@given(
    column=st.sampled_from(["step", "lr", "loss"]),
    twin=st.sampled_from(["upper", "title", "swap"]),
    command=st.sampled_from(["fit", "check"]),
)
def test_columns_equal_but_for_case_are_refused_naming_both(
    tmp_path, fit_file, column, twin, command
):
    directory = fuzz_dir(tmp_path, "ambiguous")
    header = WSD_ROWS[0].split(",")
    other = {"upper": column.upper(), "title": column.title(), "swap": column.swapcase()}[twin]
    rows = [f"{r},{r.split(',')[header.index(column)]}" for r in WSD_ROWS[1:]]
    (directory / "amb.csv").write_text("\n".join([f"{WSD_ROWS[0]},{other}", *rows]) + "\n")
    before = snapshot(directory)
    args = (
        ["fit", "amb.csv", "-o", "o.json"] if command == "fit" else ["check", fit_file, "amb.csv"]
    )
    code, out, err = run_cli(directory, *args)
    check_outcome(directory, before, code, out, err, False)
    assert code == 2 and repr(column) in err and repr(other) in err, err


@GATE
@given(
    unit=st.sampled_from(["ppl", "bits"]),
    name=st.sampled_from(["loss", "train_loss", "val_loss"]),
    scale=st.floats(0.9, 1.1),
)
def test_a_loss_logged_in_another_unit_is_never_read_as_nats(tmp_path, unit, name, scale):
    """Perplexity or bits in a column named like a loss: converted (and said) or refused, never
    fitted as nats."""
    directory = fuzz_dir(tmp_path, "units")
    header = WSD_ROWS[0].replace("loss", name)
    nats = [float(r.split(",")[2]) * scale for r in WSD_ROWS[1:]]
    logged = [np.exp(x) if unit == "ppl" else x / np.log(2) for x in nats]
    rows = [f"{r.rsplit(',', 1)[0]},{v!r}" for r, v in zip(WSD_ROWS[1:], logged)]
    (directory / "u.csv").write_text("\n".join([header, *rows]) + "\n")
    before = snapshot(directory)
    code, out, err = run_cli(directory, "fit", "u.csv", "-o", "o.json", "--warmup", "2160")
    check_outcome(directory, before, code, out, err, False)
    if code == 0:
        saved = json.loads((directory / "o.json").read_text())
        assert saved["runs"][0]["loss"] == pytest.approx(nats[: len(saved["runs"][0]["loss"])])
        assert "converted column" in err
