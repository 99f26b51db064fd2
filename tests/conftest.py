from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_runs"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture
def samples() -> Path:
    return SAMPLES


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (CI runs with ../shared beside the repo)")
    return path
