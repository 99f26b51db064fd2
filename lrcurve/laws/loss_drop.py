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
of ``O(n)``, and ``O(n)`` memory when the requested steps are processed in chunks
(about ``20`` bytes a change: :mod:`lrcurve.laws.change_tree`).
The error is second order in ``tolerance`` relative to ``LD``'s scale
``B * sum_k |eta_{k-1} - eta_k|``, zero on step schedules; the tests hold it below
``0.02 * tolerance^2`` of that scale against the direct double sum on random schedules, and
``benchmarks/speed_multipower.py`` prints what it is on long cosine and WSD schedules
(docs/fitting.md). ``tolerance=0`` evaluates exactly.

Dense requests (``predict`` wants every step). ``LD`` is a smooth function of ``t``
wherever the LR is smooth: term by term, the change ``k`` steps back is a smooth
function of ``t`` when the LR is. So between the LR's kinks (jumps, the corners of a
linear decay, restarts) it is walked only at a few thousand :class:`Knots` (every
step just after a kink, then geometrically spaced, at most ``n/2048`` apart) with a
quarter of the tolerance, and filled in by cubic Hermite interpolation inside each
segment (a jump of ``LD`` at a kink stays a jump). The interpolation is a fixed
sparse linear map of the knot values, built once, so the shifted parameter sets of
the standard-error band share the walk and the map. Against the exact sum on cosine, WSD,
step, cyclic and re-warmup schedules across the parameter bounds, the tests hold the
interpolation alone to ``1e-7`` of ``LD``'s scale and the whole evaluation to ``1e-6`` of the
loss; ``benchmarks/speed_multipower.py`` prints the error on its cosine. When the knots would
be more than half the requested steps (short schedules, or an LR that bends sharply at every
step) every requested step is walked as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

from lrcurve.areas import lr_drops
from lrcurve.laws.base import running_sum, step_chunks
from lrcurve.laws.change_tree import GAMMA_MAX, ChangeTree
from lrcurve.laws.knots import Knots

__all__ = ["GAMMA_MAX", "ChangeTree", "LossDrop", "loss_drop_direct", "loss_drop_every_step"]

DEFAULT_TOLERANCE = 0.2
CHUNK_STEPS = 4096  # requested steps walked through the tree at once
CACHE_PAIRS = 2_000_000  # keep the (step, block) terms when there are at most this many
KNOT_TOLERANCE = 0.25  # knots are few: walk them with this share of the tolerance


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
        del drops
        trees, area = _trees(lr, walked)
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
                row[part] = B * np.bincount(
                    terms.index,
                    weights=_weighted_saturation(terms, C, beta, gamma),
                    minlength=part.stop - part.start,
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
        tolerance = self.tolerance * (1.0 if self.knots is None else KNOT_TOLERANCE)
        walks = [(tree, *tree.walk(steps, area, tolerance)) for tree in self.trees]
        index = np.concatenate([at for _, at, _ in walks])
        terms = _Terms(index, *(np.empty(index.size) for _ in range(3)))
        start = 0
        for tree, at, block in walks:  # written in place: the terms are the walk's peak
            into = slice(start, start + at.size)
            weight, origin, log_lr = terms.weight[into], terms.area[into], terms.log_lr[into]
            tree.blocks(block, out=(weight, origin, log_lr, np.empty(at.size)))
            weight *= tree.sign
            np.subtract(area[at], origin, out=origin)
            start = into.stop
        return terms


def _chunks_of(
    lr: NDArray[np.float64], chunk: int = 1 << 16
) -> Iterator[tuple[slice, NDArray[np.float64], NDArray[np.float64], float]]:
    """Per chunk of steps: the slice, ``eta_{k-1} - eta_k``, the cumulative LR ``F`` (the same
    sums as one ``cumsum``) and ``F`` before the chunk."""
    carry = 0.0
    for part in step_chunks(lr.size, chunk):
        cumulative = running_sum(lr[part], carry)
        yield (
            part,
            lr_drops(lr[max(part.start - 1, 0) : part.stop])[min(part.start, 1) :],
            cumulative,
            carry,
        )
        carry = cumulative[-1]


def _trees(
    lr: NDArray[np.float64], walked: NDArray[np.int64]
) -> tuple[tuple[ChangeTree, ...], NDArray[np.float64]]:
    """The trees of the LR's drops, then of its rises, and ``F_t`` at the ``walked`` steps, a
    chunk of steps at a time: the changes are counted first, so each array is made once."""
    signs = (1.0, -1.0)
    count = np.zeros(2, dtype=np.int64)
    for _, drops, _, _ in _chunks_of(lr):
        count += [np.count_nonzero(sign * drops > 0) for sign in signs]
    found = [(np.empty(c, dtype=np.int32), np.empty(c)) for c in count]  # change step, F before
    filled = [0, 0]
    area = np.empty(walked.size)
    for part, drops, cumulative, carry in _chunks_of(lr):
        for i, sign in enumerate(signs):
            at = np.flatnonzero(sign * drops > 0)  # within the chunk
            into = slice(filled[i], filled[i] + at.size)
            found[i][0][into] = at + part.start + 1
            found[i][1][into] = np.where(at > 0, cumulative[at - 1], carry)  # 0 only at step 1
            filled[i] = into.stop
        here = (walked > part.start) & (walked <= part.stop)
        area[here] = cumulative[walked[here] - 1 - part.start]
    trees = []
    for sign in signs:
        steps, before = found.pop(0)
        trees.append(ChangeTree.build(lr, steps, before, sign))
    return tuple(trees), area


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
    del drops  # before the trees are built: they are the peak
    trees, area = _trees(lr, knots.steps)
    walked = LossDrop(knots.steps, knots.steps, area, trees, tolerance, knots, keep_terms=False)
    values = walked.walked_values(params)
    del walked, trees
    return knots.interpolate_every_step(values, n)


def _weighted_saturation(
    terms: _Terms, C: float, beta: float, gamma: float, chunk: int = 1 << 16
) -> NDArray[np.float64]:
    """``weight * G`` per term, the terms a ``chunk`` at a time (the same products; the
    temporaries of :func:`_saturation` stay small)."""
    out = np.empty(terms.index.size)
    for start in range(0, out.size, chunk):
        part = slice(start, start + chunk)
        saturation, _ = _saturation(
            _Terms(*(a[part] for a in (terms.index, terms.weight, terms.area, terms.log_lr))),
            C,
            beta,
            gamma,
        )
        np.multiply(terms.weight[part], saturation, out=out[part])
    return out


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
