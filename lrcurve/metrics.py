"""Goodness-of-fit figures for a predicted loss curve against a logged one."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Scores:
    """MAPE and final-loss error are relative, in percent; RMSE in loss units."""

    n_points: int
    mape: float
    rmse: float
    r2: float
    final_error: float
    max_error: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def score(predicted: ArrayLike, observed: ArrayLike) -> Scores:
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    rel = (p - y) / y
    resid = p - y
    spread = np.sum((y - y.mean()) ** 2)
    return Scores(
        n_points=int(y.size),
        mape=float(100 * np.mean(np.abs(rel))),
        rmse=float(np.sqrt(np.mean(resid**2))),
        r2=float(1 - np.sum(resid**2) / spread) if spread > 0 else float("nan"),
        final_error=float(100 * rel[-1]),
        max_error=float(100 * np.max(np.abs(rel))),
    )
