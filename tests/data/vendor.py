"""Copy the public curves the tests read (tests/data/MANIFEST) from the full sets, trimmed.

    python tests/data/vendor.py [--data ../shared/data]

CSV files are copied whole. W&B exports keep ``name``, ``config`` and the ``train``, ``val``
and ``final-val`` series, written without indentation; the ``summary`` and the ``wa``/``ema``
series, which no test reads, are dropped. The export matching ``WHOLE`` is copied byte for
byte: the W&B fuzz tests damage any key of it. The sets' LICENSE files come along.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WHOLE = "ann0.2_slimpajama_llama_norm_nlayers8_nhead6_*iter3000*.json"


def trimmed(export: dict[str, Any]) -> dict[str, Any]:
    """The export with only the parts the readers and the tests use."""
    kept = {key: export[key] for key in ("name", "config") if key in export}
    kept["history"] = {
        k: v for k, v in export["history"].items() if k in ("train", "val", "final-val")
    }
    return kept


def vendor(data: Path) -> None:
    """Copy (and trim) every file in the manifest, and the sets' licenses, from ``data``."""
    listed = [Path(line) for line in (HERE / "MANIFEST").read_text().split()]
    for path in [*listed, Path("lr-scheduling", "LICENSE"), Path("multipowerlaw", "LICENSE")]:
        (HERE / path).parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json" and not path.match(WHOLE):
            export = json.loads((data / path).read_text())
            (HERE / path).write_text(json.dumps(trimmed(export), separators=(",", ":")) + "\n")
        else:
            shutil.copyfile(data / path, HERE / path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parents[2] / "shared" / "data")
    args = parser.parse_args()
    if not (args.data / "lr-scheduling" / "index.csv").is_file():
        sys.exit(f"vendor.py: the public data sets are not in {args.data} (give --data DIR)")
    vendor(args.data)


if __name__ == "__main__":
    main()
