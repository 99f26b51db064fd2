"""The public data sets the accuracy and cooldown benchmarks read in full.

They sit in ``../shared/data`` beside the repository by default; ``--data DIR`` points
elsewhere. Without them a benchmark says in one line where they come from and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SOURCES = {
    "multipowerlaw": "the multi-power-law paper's curves (Luo et al., arXiv 2503.12811, MIT; "
    "github.com/thu-yao-01-luo/MultiPowerLaw)",
    "lr-scheduling": "Schaipp, Hägele et al.'s W&B run exports (MIT; "
    "the data/ folder of github.com/fabian-sp/lr-scheduling, with an index.csv)",
}


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT,
        metavar="DIR",
        help="folder holding the public sets multipowerlaw/ and lr-scheduling/ "
        "(default: ../shared/data beside the repository)",
    )


def data_set(folder: Path, name: str) -> Path:
    """``folder/name``; when it is missing, one line saying where the set comes from, exit 2."""
    path = folder / name
    if not path.is_dir():
        print(
            f"{Path(sys.argv[0]).name}: no {name}/ in {folder}: it holds {SOURCES[name]}; "
            "put it there or pass --data DIR",
            file=sys.stderr,
        )
        sys.exit(2)
    return path
