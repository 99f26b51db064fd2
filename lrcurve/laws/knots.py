"""Where the multi-power law's loss drop ``LD`` is walked when it is wanted at (nearly) every
step, and the cubic Hermite map that fills in the other steps (:mod:`lrcurve.laws.loss_drop`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

KINK = (
    1e-8  # an LR kink (|change of eta_{k-1}-eta_k|) above this share of sum|drops| starts a segment
)
DENSE_AFTER_KINK = 16  # steps evaluated one by one after each kink
KNOT_RATIO = 1.04  # then knots at geometric distances from the kink
MAX_GAP = 1 / 2048  # and never further apart than this share of the steps


@dataclass(frozen=True)
class Knots:
    """Where ``LD`` is evaluated when it is wanted at (nearly) every step, and how it is
    interpolated to the other steps.

    ``LD`` is smooth in ``t`` wherever the LR is, so the steps split into segments at
    the LR's kinks (steps where ``eta_{k-1} - eta_k`` itself changes by more than
    ``KINK`` of the summed changes: jumps, the corners of linear decays, restarts).
    Each segment gets every step for ``DENSE_AFTER_KINK`` steps, then knots at
    distances growing geometrically (``KNOT_RATIO``) from its start, the same spacing
    back from its end (an LR decaying to 0 bends ``LD`` fast there), at most
    ``MAX_GAP * n`` apart, and its last step. Within a segment ``LD`` is a cubic
    Hermite interpolant whose slopes are three-point finite differences of the knot
    values, taken inside the segment only (a jump of ``LD`` at a kink never leaks
    into its neighbours).
    """

    steps: NDArray[np.int64]  # knot steps, increasing
    segment: NDArray[np.int64]  # segment number of each knot

    @classmethod
    def of(cls, drops: NDArray[np.float64]) -> Knots:
        """The knots for steps ``1..n`` of an LR history with per-step ``drops``."""
        n = drops.size
        total = np.abs(drops).sum()
        kink = np.abs(np.diff(drops, prepend=0.0)) > KINK * total
        starts = np.union1d([1], np.flatnonzero(kink) + 1)
        ends = np.append(starts[1:] - 1, n)
        growth = np.arange(
            int(np.ceil(np.log(max(n, 2) / DENSE_AFTER_KINK) / np.log(KNOT_RATIO))) + 1
        )
        offsets = np.unique(
            np.concatenate(
                [np.arange(DENSE_AFTER_KINK), np.round(DENSE_AFTER_KINK * KNOT_RATIO**growth)]
            )
        )
        offsets = offsets.astype(np.int64)
        count = np.searchsorted(offsets, ends - starts, side="right")
        first = np.repeat(np.cumsum(count) - count, count)
        offset = offsets[np.arange(int(count.sum())) - first]
        # the same spacing back from each segment's end: an LR decaying to 0 there makes LD bend
        # fast at the end
        knots = np.concatenate([np.repeat(starts, count) + offset, np.repeat(ends, count) - offset])
        gap = max(1, int(MAX_GAP * n))
        knots = np.unique(np.concatenate([knots, ends, np.arange(1, n + 1, gap)]))
        return cls(knots, np.searchsorted(starts, knots, side="right") - 1)

    def slopes(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """d values / d step at each knot (rows of ``values`` are separate curves)."""
        x = self.steps.astype(np.float64)
        h = np.diff(x)
        secant = np.diff(values, axis=-1) / h
        starts = np.ones(x.size, dtype=bool)
        starts[1:] = self.segment[1:] != self.segment[:-1]
        ends = np.append(starts[1:], True)
        slope = np.zeros_like(values)
        i = np.flatnonzero(~starts & ~ends)  # centred: (i-1, i, i+1)
        slope[..., i] = (h[i] * secant[..., i - 1] + h[i - 1] * secant[..., i]) / (h[i - 1] + h[i])
        i = np.flatnonzero(starts & ~ends)  # forward: (i, i+1, i+2) or the secant
        slope[..., i] = secant[..., i]
        i = i[~ends[i + 1]]
        slope[..., i] = ((2 * h[i] + h[i + 1]) * secant[..., i] - h[i] * secant[..., i + 1]) / (
            h[i] + h[i + 1]
        )
        i = np.flatnonzero(ends & ~starts)  # backward: (i-2, i-1, i) or the secant
        slope[..., i] = secant[..., i - 1]
        i = i[~starts[i - 1]]
        slope[..., i] = (
            (2 * h[i - 1] + h[i - 2]) * secant[..., i - 1] - h[i - 1] * secant[..., i - 2]
        ) / (h[i - 2] + h[i - 1])
        return slope

    def hermite(
        self, at: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """For each step of ``at``: its knots ``left`` and ``right`` and the four cubic
        Hermite weights (of the values at ``left``, ``right``, then of the slopes there)."""
        right = np.clip(np.searchsorted(self.steps, at, side="left"), 1, self.steps.size - 1)
        left = right - 1
        x0 = self.steps[left].astype(np.float64)
        h = self.steps[right] - x0
        u = (at - x0) / h
        u2, u3 = u * u, u * u * u
        weights = np.column_stack(
            [2 * u3 - 3 * u2 + 1, 3 * u2 - 2 * u3, (u3 - 2 * u2 + u) * h, (u3 - u2) * h]
        )
        return left, right, weights

    def interpolation(self, at: NDArray[np.int64]) -> csr_matrix:
        """The linear map from (knot values, knot slopes) to the values at steps ``at``:
        a ``len(at) x 2K`` matrix with the four cubic Hermite weights in each row."""
        left, right, weights = self.hermite(at)
        size = self.steps.size
        columns = np.column_stack([left, right, size + left, size + right])
        return csr_matrix(
            (weights.ravel(), columns.ravel(), np.arange(0, 4 * at.size + 1, 4)),
            shape=(at.size, 2 * size),
        )

    def interpolate(
        self, values: NDArray[np.float64], interpolation: csr_matrix
    ) -> NDArray[np.float64]:
        """Each row of knot ``values`` at the steps of ``interpolation`` (:meth:`interpolation`)."""
        return np.ascontiguousarray((interpolation @ np.hstack([values, self.slopes(values)]).T).T)

    def interpolate_every_step(
        self, values: NDArray[np.float64], n_steps: int, chunk: int = 1 << 16
    ) -> NDArray[np.float64]:
        """Each row of knot ``values`` at steps ``1..n_steps``, as :meth:`interpolate` with the
        map of those steps gives it to the bit (the same four products, summed in the same
        order), a ``chunk`` of steps at a time: no ``n x 2K`` map is held."""
        slopes = self.slopes(values)
        out = np.empty((values.shape[0], n_steps))
        for start in range(0, n_steps, chunk):
            part = slice(start, min(start + chunk, n_steps))
            left, right, w = self.hermite(np.arange(part.start + 1, part.stop + 1))
            out[:, part] = (
                w[:, 0] * values[:, left]
                + w[:, 1] * values[:, right]
                + w[:, 2] * slopes[:, left]
                + w[:, 3] * slopes[:, right]
            )
        return out
