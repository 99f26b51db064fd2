import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_runs"
SHARED = ROOT.parent / "shared" / "data"
# `make fuzz` multiplies the number of examples of the malformed-input tests by this.
FUZZ_SCALE = max(1, int(os.environ.get("LRCURVE_FUZZ_SCALE", "1")))


@pytest.fixture
def samples() -> Path:
    return SAMPLES


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (CI runs with ../shared beside the repo)")
    return path


def short_log(path: Path, n_rows: int) -> Path:
    """``path``: ``n_rows`` of the sample WSD run, spread over it, the first moved into the 2160-step warmup."""
    header, *rows = (SAMPLES / "wsd.csv").read_text().splitlines()
    picked = [rows[round(i * (len(rows) - 1) / (n_rows - 1))] for i in range(n_rows)]
    path.write_text("\n".join([header, "1080,0.00015,4.5", *picked[1:]]) + "\n")
    return path
