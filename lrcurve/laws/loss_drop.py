"""The multi-power law's loss drop ``LD(t)``, evaluated fast (Luo et al., arXiv 2503.12811)::

    LD(t) = B * sum_{k=1..t} (eta_{k-1} - eta_k) * G(eta_k^-gamma * S_k(t))
    G(x)  = 1 - (C*x + 1)^-beta

Fast evaluation. Only steps where the LR changes contribute to ``LD``; they are
the leaves of a binary tree whose nodes merge runs of consecutive changes of one
sign into a block (total drop, drop-weighted mean of ``S_{k}`` origin and of
``log eta_k``). For each requested step ``t`` the tree is walked from the root and
a block is used as one term when it is *far*: the spread it introduces in
``log x`` (``log`` of the ratio of the block's furthest and nearest ``S_k(t)``,
plus ``gamma_max`` times its spread in ``log eta``) is at most ``tolerance``;
otherwise its two halves are visited (a Barnes-Hut walk). Because the block term
sits at the drop-weighted centroid, the first-order error cancels and what is left
is second order in the spread, damped by ``G''`` which falls off as a power of
``x``. Every step thus sees its recent changes exactly and older ones in blocks
whose width grows with their age: ``O(log n / tolerance)`` terms per step instead
of ``O(n)``, and ``O(n)`` memory when the requested steps are processed in chunks.
Measured against the direct double sum (tests, ``benchmarks/speed_multipower.py``):
with the default ``tolerance=0.2`` the error on 100k-step cosine and WSD schedules is at
most ``5e-5`` of ``LD``'s scale ``B * sum_k |eta_{k-1} - eta_k|`` (at ``gamma = 0``; ``1e-5``
at ``gamma = 0.6``), zero on step schedules, and below
``0.01 * tolerance^2 * B * sum_k |eta_{k-1} - eta_k|`` on random schedules that jump
at every step (there up to ``1e-5`` of the loss). ``tolerance=0`` evaluates exactly.

Dense requests (``predict`` wants every step). ``LD`` is a smooth function of ``t``
wherever the LR is smooth: term by term, the change ``k`` steps back is a smooth
function of ``t`` when the LR is. So between the LR's kinks (jumps, the corners of a
linear decay, restarts) it is walked only at a few thousand :class:`Knots` (every
step just after a kink, then geometrically spaced, at most ``n/2048`` apart) with a
quarter of the tolerance, and filled in by cubic Hermite interpolation inside each
segment (a jump of ``LD`` at a kink stays a jump). The interpolation is a fixed
sparse linear map of the knot values, built once, so the shifted parameter sets of
the standard-error band share the walk and the map. Measured against the exact sum
(tests; ``benchmarks/speed_multipower.py``) on cosine, WSD, step, cyclic and
re-warmup schedules across the parameter bounds, the interpolation alone errs by at
most ``1e-7`` of ``LD``'s scale ``B * sum_k |eta_{k-1} - eta_k|`` (typically ``1e-10``),
and the whole evaluation by about ``1e-6`` of the loss or less (``2e-8`` on the benchmark
cosine, ten times below the sparse walk). When the knots would be more than half the
requested steps (short schedules, or an LR that bends sharply at every step) every
requested step is walked as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

from lrcurve.areas import forward_area, lr_drops
from lrcurve.laws.knots import Knots

DEFAULT_TOLERANCE = 0.2
GAMMA_MAX = 1.5  # upper bound of gamma; the block test assumes it
CHUNK_STEPS = 4096  # requested steps walked through the tree at once
CACHE_PAIRS = 2_000_000  # keep the (step, block) terms when there are at most this many
KNOT_TOLERANCE = 0.25  # knots are few: walk them with this share of the tolerance


@dataclass(frozen=True)
class ChangeTree:
    """LR changes of one sign, merged pairwise level by level (level 0: single changes).

    All levels live in flat arrays; ``offsets[j]`` is where level ``j`` starts.
    """

    sign: float
    offsets: tuple[int, ...]
    # int32: steps are at most MAX_STEPS (5e7), and the tree is the peak of a prediction's memory
    first_step: NDArray[np.int32]  # first change step in the block (huge for padding)
    last_step: NDArray[np.int32]  # last change step in the block (-1 for padding)
    weight: NDArray[np.float64]  # sum of |drop|
    origin: NDArray[np.float64]  # weighted mean of F_{k-1}, where S_k(t) = F_t - F_{k-1}
    origin_lo: NDArray[np.float64]  # F_{k-1} of the first change
    origin_hi: NDArray[np.float64]  # F_{k-1} of the last change
    log_lr: NDArray[np.float64]  # weighted mean of log eta_k
    log_lr_lo: NDArray[np.float64]
    log_lr_hi: NDArray[np.float64]

    @classmethod
    def build(
        cls,
        steps: NDArray[np.int64],
        drops: NDArray[np.float64],
        area_before: NDArray[np.float64],
        log_lr: NDArray[np.float64],
        sign: float,
    ) -> ChangeTree:
        sizes = [max(steps.size, 1)]  # each level padded to pairs, not to a power of two
        while sizes[-1] > 1:
            sizes[-1] += sizes[-1] % 2
            sizes.append(sizes[-1] // 2)
        offsets = tuple(int(o) for o in np.cumsum([0] + sizes[:-1]))
        total, m = sum(sizes), steps.size
        first = np.full(total, np.iinfo(np.int32).max, dtype=np.int32)
        last = np.full(total, -1, dtype=np.int32)
        weight, origin, lo, hi, mean_lr = (np.zeros(total) for _ in range(5))
        lr_lo, lr_hi = np.full(total, np.inf), np.full(total, -np.inf)
        first[:m], last[:m], weight[:m] = steps, steps, np.abs(drops)
        origin[:m] = lo[:m] = hi[:m] = area_before
        mean_lr[:m] = lr_lo[:m] = lr_hi[:m] = log_lr
        pairs = [size // 2 for size in sizes[:-1]]  # a level's parents that have children
        for child, parent, width in zip(offsets[:-1], offsets[1:], pairs):
            left, right, up = (
                slice(child, child + 2 * width, 2),
                slice(child + 1, child + 2 * width, 2),
                slice(parent, parent + width),
            )
            np.add(weight[left], weight[right], out=weight[up])
            share = np.divide(weight[right], weight[up], out=np.zeros(width), where=weight[up] > 0)
            np.minimum(first[left], first[right], out=first[up])
            np.maximum(last[left], last[right], out=last[up])
            with np.errstate(invalid="ignore"):
                origin[up] = origin[left] + share * (origin[right] - origin[left])
                mean_lr[up] = mean_lr[left] + share * (mean_lr[right] - mean_lr[left])
            lo[up] = lo[left]
            hi[up] = np.where(last[right] >= 0, hi[right], hi[left])
            np.minimum(lr_lo[left], lr_lo[right], out=lr_lo[up])
            np.maximum(lr_hi[left], lr_hi[right], out=lr_hi[up])
        return cls(sign, offsets, first, last, weight, origin, lo, hi, mean_lr, lr_lo, lr_hi)

    @property
    def root(self) -> int:
        return self.offsets[-1]

    def children(self, block: NDArray[np.int64]) -> NDArray[np.int64]:
        """The left child of each block (the right one follows it); -1 for single changes."""
        level = np.searchsorted(self.offsets, block, side="right") - 1
        offsets = np.asarray(self.offsets)
        return np.where(
            level > 0, offsets[np.maximum(level - 1, 0)] + 2 * (block - offsets[level]), -1
        )

    def walk(
        self, steps: NDArray[np.int64], area: NDArray[np.float64], tolerance: float
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The (requested step index, block id) terms that make up ``LD`` at ``steps`` (sorted).

        ``area`` is ``F_t`` at those steps. A block is one term for step ``t`` when
        all its changes happened by ``t`` and it is far enough (module docstring).
        Runs of consecutive requested steps are walked together (a dual-tree walk):
        a block that is far from the first step of a run is far from all of it.
        """
        if self.weight[self.root] == 0 or steps.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        lo, hi = np.array([0]), np.array([steps.size])
        block = np.array([self.root])
        found = []
        while block.size:
            started = self.first_step[block] <= steps[hi - 1]
            lo, hi, block = lo[started], hi[started], block[started]
            first_t, first_area = steps[lo], area[lo]
            child = self.children(block)
            near = first_area - self.origin_hi[block]
            with np.errstate(divide="ignore", invalid="ignore"):
                spread = np.log((first_area - self.origin_lo[block]) / near) + GAMMA_MAX * (
                    self.log_lr_hi[block] - self.log_lr_lo[block]
                )
            done = (self.last_step[block] <= first_t) & (
                (child < 0) | ((near > 0) & (spread <= tolerance))
            )
            found.append((lo[done], hi[done], block[done]))
            lo, hi, block, child = lo[~done], hi[~done], block[~done], child[~done]
            wider = (self.origin_hi[block] - self.origin_lo[block]) >= (area[hi - 1] - area[lo])
            split_block = (child >= 0) & ((hi - lo == 1) | wider)
            mid = (lo + hi) // 2
            lo = np.concatenate(
                [lo[split_block], lo[split_block], lo[~split_block], mid[~split_block]]
            )
            hi = np.concatenate(
                [hi[split_block], hi[split_block], mid[~split_block], hi[~split_block]]
            )
            block = np.concatenate(
                [
                    child[split_block],
                    child[split_block] + 1,
                    block[~split_block],
                    block[~split_block],
                ]
            )
        lo, hi, block = (np.concatenate(parts) for parts in zip(*found))
        lengths = hi - lo
        run_start = np.repeat(np.cumsum(lengths) - lengths, lengths)
        index = np.repeat(lo, lengths) + np.arange(int(lengths.sum())) - run_start
        return index, np.repeat(block, lengths)


@dataclass(frozen=True)
class _Terms:
    """The block terms of ``LD`` for a chunk of requested steps, theta-free."""

    index: NDArray[np.int64]  # requested step (within the chunk) each term adds to
    weight: NDArray[np.float64]  # signed total drop of the block
    area: NDArray[np.float64]  # S from the block's centroid to t
    log_lr: NDArray[np.float64]  # mean log eta of the block


@dataclass(frozen=True)
class LossDrop:
    """``LD`` at fixed requested steps of a fixed LR history, as a function of
    ``(B, C, beta, gamma)``: the tree walk is done once (and kept when small).

    When the steps are dense (far more of them than :class:`Knots`), the walk runs
    at the knots only and ``LD`` is interpolated to the requested steps."""

    steps: NDArray[np.int64]  # requested steps (1-based)
    walked: NDArray[np.int64]  # steps the tree is walked at: the requested ones or the knots
    area: NDArray[np.float64]  # F_t, the cumulative LR, at the walked steps
    trees: tuple[ChangeTree, ...]  # drops, then rises
    tolerance: float
    knots: Knots | None = None
    interpolation: csr_matrix | None = None  # knots -> requested steps
    cache: dict[int, _Terms] = field(default_factory=dict, compare=False, repr=False)
    keep_terms: bool = True  # cache the walk's terms for the next parameters (when small)

    @classmethod
    def of(
        cls, lr: NDArray[np.float64], steps: NDArray[np.int64], tolerance: float = DEFAULT_TOLERANCE
    ) -> LossDrop:
        """From the per-step LR ``lr`` of steps ``1..n`` and the steps ``LD`` is wanted at."""
        steps = np.asarray(steps, dtype=np.int64)
        if np.any(np.diff(steps) < 0):
            raise ValueError("LossDrop needs the requested steps in increasing order")
        lr = np.asarray(lr, dtype=np.float64)
        drops = lr_drops(lr)
        knots = Knots.of(drops[: int(steps[-1])]) if tolerance > 0 and steps.size else None
        if knots is None or 2 * knots.steps.size > steps.size:
            knots = None
        walked = steps if knots is None else knots.steps
        changes, area = _changes(lr, drops, walked)
        del drops
        trees = _trees(changes)
        interpolation = None if knots is None else knots.interpolation(steps)
        return cls(steps, walked, area, trees, tolerance, knots, interpolation)

    def __call__(self, B: float, C: float, beta: float, gamma: float) -> NDArray[np.float64]:
        return self.many(np.array([[B, C, beta, gamma]]))[0]

    def many(self, params: NDArray[np.float64]) -> NDArray[np.float64]:
        """``LD`` for each row ``(B, C, beta, gamma)`` of ``params``: one tree walk for all."""
        result = self.walked_values(params)
        return result if self.knots is None else self.knots.interpolate(result, self.interpolation)

    def walked_values(self, params: NDArray[np.float64]) -> NDArray[np.float64]:
        """``LD`` at the walked steps (the knots, or the requested steps without knots)."""
        result = np.zeros((len(params), self.walked.size))
        for part, terms in self._chunks():
            for row, (B, C, beta, gamma) in zip(result, params):
                saturation, _ = _saturation(terms, C, beta, gamma)
                row[part] = B * np.bincount(
                    terms.index, weights=terms.weight * saturation, minlength=part.stop - part.start
                )
        return result

    def with_gradient(self, B: float, C: float, beta: float, gamma: float) -> NDArray[np.float64]:
        """Rows ``LD, dLD/dB, dLD/dC, dLD/dbeta, dLD/dgamma`` at the requested steps."""
        result = np.zeros((5, self.walked.size))
        for part, terms in self._chunks():
            saturation, slopes = _saturation(terms, C, beta, gamma, gradient=True)
            count = part.stop - part.start
            drop = np.bincount(terms.index, weights=terms.weight * saturation, minlength=count)
            result[:, part] = [
                B * drop,
                drop,
                *(
                    B * np.bincount(terms.index, weights=terms.weight * d, minlength=count)
                    for d in slopes
                ),
            ]
        return result if self.knots is None else self.knots.interpolate(result, self.interpolation)

    def n_terms(self) -> int:
        """How many (step, block) terms ``LD`` sums over."""
        return sum(terms.index.size for _, terms in self._chunks())

    def _chunks(self) -> Iterator[tuple[slice, _Terms]]:
        for start in range(0, self.walked.size, CHUNK_STEPS):
            part = slice(start, min(start + CHUNK_STEPS, self.walked.size))
            terms = self.cache.get(start)
            if terms is None:
                terms = self._terms(part)
                pairs = terms.index.size * self.walked.size
                small = pairs <= CACHE_PAIRS * (part.stop - part.start)
                if self.keep_terms and small:
                    self.cache[start] = terms
            yield part, terms

    def _terms(self, part: slice) -> _Terms:
        steps, area = self.walked[part], self.area[part]
        pieces = []
        for tree in self.trees:
            at, block = tree.walk(
                steps, area, self.tolerance * (1.0 if self.knots is None else KNOT_TOLERANCE)
            )
            pieces.append(
                (
                    at,
                    tree.sign * tree.weight[block],
                    area[at] - tree.origin[block],
                    tree.log_lr[block],
                )
            )
        return _Terms(*(np.concatenate([p[i] for p in pieces]) for i in range(4)))


# a tree's inputs: change steps, drops, F before each change, log of the LR after it; sign
Change = tuple[
    NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float
]


def _changes(
    lr: NDArray[np.float64], drops: NDArray[np.float64], walked: NDArray[np.int64]
) -> tuple[list[Change], NDArray[np.float64]]:
    """The inputs of :meth:`ChangeTree.build` for the LR's drops, then its rises, and the
    cumulative LR ``F_t`` at the ``walked`` steps (``O(changes)`` memory once returned)."""
    cumulative = forward_area(lr)
    changes = []
    for sign in (1.0, -1.0):
        at = np.flatnonzero(sign * drops > 0)
        with np.errstate(divide="ignore"):
            log_lr = np.log(lr[at])
        changes.append((at + 1, drops[at], cumulative[at - 1], log_lr, sign))
    return changes, cumulative[walked - 1]


def _trees(changes: list[Change]) -> tuple[ChangeTree, ...]:
    """The trees of :func:`_changes`, each one's inputs freed once it is built."""
    trees = []
    while changes:
        trees.append(ChangeTree.build(*changes.pop(0)))
    return tuple(trees)


def loss_drop_every_step(
    lr: NDArray[np.float64], params: NDArray[np.float64], tolerance: float = DEFAULT_TOLERANCE
) -> NDArray[np.float64]:
    """``LD`` at every step ``1..n`` of ``lr`` for each row ``(B, C, beta, gamma)`` of
    ``params``: ``LossDrop.of(lr, 1..n, tolerance).many(params)`` to the bit, in less memory
    (the LR change trees, then ``8`` bytes a step a row; no interpolation map)."""
    n = lr.size
    drops = lr_drops(lr)
    knots = Knots.of(drops) if tolerance > 0 and n else None
    if knots is None or 2 * knots.steps.size > n:
        return LossDrop.of(lr, np.arange(1, n + 1), tolerance).many(params)
    changes, area = _changes(lr, drops, knots.steps)
    del drops  # before the trees are built: they are the peak
    trees = _trees(changes)
    walked = LossDrop(knots.steps, knots.steps, area, trees, tolerance, knots, keep_terms=False)
    values = walked.walked_values(params)
    del walked, trees
    return knots.interpolate_every_step(values, n)


def _saturation(
    terms: _Terms, C: float, beta: float, gamma: float, gradient: bool = False
) -> tuple[NDArray[np.float64], list[NDArray[np.float64]]]:
    """``G(x) = 1 - (C*x + 1)^-beta`` per term, ``x = eta^-gamma * S``, and with ``gradient``
    its derivatives in ``C``, ``beta`` and ``gamma``::

        dG/dC = beta * x * (1 + C*x)^(-beta-1)      dG/dbeta = (1 + C*x)^-beta * log(1 + C*x)
        dG/dgamma = -log(eta) * C * dG/dC
    """
    started = terms.area > 0  # nothing trained since the change: no effect yet
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scale = np.exp(-gamma * terms.log_lr) if gamma else 1.0  # eta^-0 = 1 even where eta = 0
        x = np.where(started, scale * terms.area, 0.0)
        log_base = np.log1p(C * x)
        saturation = -np.expm1(-beta * log_base)
        if not gradient:
            return saturation, []
        remaining = np.exp(-beta * log_base)  # (1 + C*x)^-beta
        finite = np.isfinite(x)  # x = inf (eta = 0): G = 1, flat in every parameter
        d_C = np.where(finite, beta * x * remaining / (1.0 + C * x), 0.0)
        d_beta = np.where(finite, remaining * log_base, 0.0)
        d_gamma = np.where(
            finite & started & np.isfinite(terms.log_lr), -terms.log_lr * C * d_C, 0.0
        )
    return saturation, [d_C, d_beta, d_gamma]


def loss_drop_direct(
    lr: NDArray[np.float64], steps: NDArray[np.int64], B: float, C: float, beta: float, gamma: float
) -> NDArray[np.float64]:
    """``LD`` by the double sum as written, ``O(len(steps) * t)``: the reference for checks."""
    lr = np.asarray(lr, dtype=np.float64)
    drops = lr_drops(lr)
    out = np.empty(len(steps))
    for i, t in enumerate(np.asarray(steps, dtype=np.int64)):
        eta = lr[:t]
        area_since = np.cumsum(eta[::-1])[::-1]  # S_k(t) for k = 1..t
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            x = np.where(area_since > 0, eta ** (-gamma) * area_since, 0.0)
            out[i] = B * np.sum(drops[:t] * (1.0 - (C * x + 1.0) ** (-beta)))
    return out
