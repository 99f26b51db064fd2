"""The tree of LR changes that :mod:`lrcurve.laws.loss_drop` walks (Luo et al., arXiv 2503.12811).

Its leaves are the steps where the LR changes with one sign; each node merges two
neighbours into a block (total drop, drop-weighted mean of the ``S_k`` origin and of
``log eta_k``). Memory: a change keeps its step (int32) and the area before it; the
nodes of the lowest :data:`IMPLICIT_LEVELS` levels (seven in eight of them) are not
stored but merged from their leaves when the walk visits them, with the same
arithmetic in the same order as a stored level, so the numbers do not move by a bit.
A leaf's drop and ``log eta`` are read from the LR itself. About ``16`` bytes a change
in all, against ``160`` with every level stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

GAMMA_MAX = 1.5  # upper bound of gamma; the block test assumes it

IMPLICIT_LEVELS = 3  # levels 0..2 are merged from their leaves on demand
MERGE_CHUNK = 1 << 12  # blocks merged from their changes at once
PADDING_STEP = np.iinfo(np.int32).max

# a block's weight (sum |drop|), mean origin, mean log eta, least and greatest log eta
Block = tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
]


def merge(left: Block, right: Block) -> Block:
    """Two neighbouring blocks as one: weights add, means are drop-weighted."""
    (w_l, o_l, m_l, lo_l, hi_l), (w_r, o_r, m_r, lo_r, hi_r) = left, right
    weight = w_l + w_r
    share = np.divide(w_r, weight, out=np.zeros(weight.shape), where=weight > 0)
    with np.errstate(invalid="ignore"):
        origin = o_l + share * (o_r - o_l)
        mean = m_l + share * (m_r - m_l)
    return weight, origin, mean, np.minimum(lo_l, lo_r), np.maximum(hi_l, hi_r)


@dataclass(frozen=True)
class ChangeTree:
    """LR changes of one sign, merged pairwise level by level (level 0: single changes).

    Node ids run over all levels; ``offsets[j]`` is where level ``j`` starts, and node ``i``
    of level ``j`` holds changes ``i * 2^j .. (i+1) * 2^j - 1`` (each level is padded to
    pairs at its end). Levels from ``stored`` up keep their blocks in flat arrays.
    """

    sign: float
    offsets: tuple[int, ...]
    stored: int  # the lowest stored level
    lr: NDArray[np.float64]  # the per-step LR the changes are in (not a copy)
    # int32: steps are at most MAX_STEPS (5e7), and the tree is the peak of a prediction's memory
    change_step: NDArray[np.int32]  # 1-based step of each change, increasing
    change_origin: NDArray[np.float64]  # F_{k-1} of each change, where S_k(t) = F_t - F_{k-1}
    weight: NDArray[np.float64]  # the stored levels' blocks: sum of |drop|
    origin: NDArray[np.float64]  # weighted mean of F_{k-1}
    log_lr: NDArray[np.float64]  # weighted mean of log eta_k
    log_lr_spread: NDArray[np.float64]  # greatest minus least log eta_k

    @classmethod
    def build(
        cls,
        lr: NDArray[np.float64],
        change_step: NDArray[np.int32],
        change_origin: NDArray[np.float64],
        sign: float,
        chunk: int = MERGE_CHUNK,
    ) -> ChangeTree:
        sizes = [max(change_step.size, 1)]  # each level padded to pairs, not to a power of two
        while sizes[-1] > 1:
            sizes[-1] += sizes[-1] % 2
            sizes.append(sizes[-1] // 2)
        offsets = tuple(int(o) for o in np.cumsum([0] + sizes[:-1]))
        stored = min(IMPLICIT_LEVELS, len(sizes) - 1)
        tree = cls(sign, offsets, stored, lr, change_step, change_origin, *(np.empty(0),) * 4)
        total = offsets[-1] + 1 - offsets[stored]
        # a padded parent stays empty: no weight, an empty LR range (lo and hi until the end)
        flat = (
            *(np.zeros(total) for _ in range(3)),
            np.full(total, np.inf),
            np.full(total, -np.inf),
        )
        ends = np.cumsum(sizes[stored:])
        parts = [
            tuple(a[end - size : end] for a in flat) for size, end in zip(sizes[stored:], ends)
        ]
        for start in range(0, sizes[stored], chunk):  # the lowest stored level, from the leaves
            block = np.arange(start, min(start + chunk, sizes[stored])) + offsets[stored]
            for whole, part in zip(parts[0], tree.merged(block, stored)):
                whole[start : start + part.size] = part
        for child, parent in zip(parts[:-1], parts[1:]):
            width = child[0].size // 2
            merged = merge(
                tuple(a[0 : 2 * width : 2] for a in child),
                tuple(a[1 : 2 * width : 2] for a in child),
            )
            for whole, part in zip(parent, merged):
                whole[:width] = part
        weight, origin, log_lr, least, spread = flat
        del parts, flat
        with np.errstate(invalid="ignore"):  # an LR of 0: -inf - -inf
            np.subtract(spread, least, out=spread)
        del least
        return cls(
            sign, offsets, stored, lr, change_step, change_origin, weight, origin, log_lr, spread
        )

    @property
    def root(self) -> int:
        return self.offsets[-1]

    def level(self, block: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.searchsorted(self.offsets, block, side="right") - 1

    def children(self, block: NDArray[np.int64], level: NDArray[np.int64]) -> NDArray[np.int64]:
        """The left child of each block (the right one follows it); -1 for single changes."""
        offsets = np.asarray(self.offsets)
        return np.where(
            level > 0, offsets[np.maximum(level - 1, 0)] + 2 * (block - offsets[level]), -1
        )

    def bounds(
        self, block: NDArray[np.int64], level: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """First and last change step of each block (huge and -1 for padding), and ``F_{k-1}``
        of its first and last change (0 for padding)."""
        m = self.change_step.size
        if m == 0:
            padding = np.full(block.shape, PADDING_STEP), np.full(block.shape, -1)
            return (*padding, np.zeros(block.shape), np.zeros(block.shape))
        index = (block - np.asarray(self.offsets)[level]) << level
        last = np.minimum(index + (1 << level), m) - 1
        real = index < m
        index, last = np.minimum(index, m - 1), np.maximum(last, 0)
        return (
            np.where(real, self.change_step[index], PADDING_STEP),
            np.where(real, self.change_step[last], -1),
            np.where(real, self.change_origin[index], 0.0),
            np.where(real, self.change_origin[last], 0.0),
        )

    def blocks(
        self, block: NDArray[np.int64], out: tuple[NDArray[np.float64], ...] | None = None
    ) -> tuple[NDArray[np.float64], ...]:
        """Weight, mean origin, mean log eta and the spread of log eta (greatest minus least)
        of each block: stored, or merged from its changes (``MERGE_CHUNK`` blocks at a time,
        which bounds the temporaries), into ``out`` if given."""
        out = out or tuple(np.empty(block.size) for _ in range(4))
        for start in range(0, block.size, MERGE_CHUNK):
            part = slice(start, start + MERGE_CHUNK)
            some, level = block[part], self.level(block[part])
            high = level >= self.stored
            at = some[high] - self.offsets[self.stored]
            stored = (self.weight, self.origin, self.log_lr, self.log_lr_spread)
            for whole, values in zip(out, stored):
                whole[part][high] = values[at]
            for j in range(self.stored):
                low = level == j
                if np.any(low):
                    weight, origin, log_lr, least, greatest = self.merged(some[low], j)
                    with np.errstate(invalid="ignore"):
                        spread = greatest - least
                    for whole, values in zip(out, (weight, origin, log_lr, spread)):
                        whole[part][low] = values
        return out

    def walk(
        self, steps: NDArray[np.int64], area: NDArray[np.float64], tolerance: float
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The (requested step index, block id) terms that make up ``LD`` at ``steps`` (sorted).

        ``area`` is ``F_t`` at those steps. A block is one term for step ``t`` when
        all its changes happened by ``t`` and it is far enough (module docstring).
        Runs of consecutive requested steps are walked together (a dual-tree walk):
        a block that is far from the first step of a run is far from all of it.
        """
        root = np.array([self.root])
        if self.blocks(root)[0][0] == 0 or steps.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        lo, hi, block = np.array([0]), np.array([steps.size]), root
        found = []
        while block.size:
            level = self.level(block)
            first, last, origin_lo, origin_hi = self.bounds(block, level)
            started = first <= steps[hi - 1]
            lo, hi, block, level = lo[started], hi[started], block[started], level[started]
            last, origin_lo, origin_hi = last[started], origin_lo[started], origin_hi[started]
            first_t, first_area = steps[lo], area[lo]
            child = self.children(block, level)
            near = first_area - origin_hi
            done = (last <= first_t) & (child < 0)
            far = (last <= first_t) & (child >= 0) & (near > 0)  # the blocks to test
            with np.errstate(divide="ignore", invalid="ignore"):
                spread = (
                    np.log((first_area[far] - origin_lo[far]) / near[far])
                    + GAMMA_MAX * (self.blocks(block[far])[3])
                )
            done[far] = spread <= tolerance
            found.append((lo[done], hi[done], block[done]))
            lo, hi, block, child = lo[~done], hi[~done], block[~done], child[~done]
            origin_lo, origin_hi = origin_lo[~done], origin_hi[~done]
            wider = (origin_hi - origin_lo) >= (area[hi - 1] - area[lo])
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
        del found
        lengths = hi - lo
        index = np.arange(int(lengths.sum()))  # in place: the terms are the walk's peak
        index -= np.repeat(np.cumsum(lengths) - lengths, lengths)
        index += np.repeat(lo, lengths)
        return index, np.repeat(block, lengths)

    def merged(self, block: NDArray[np.int64], level: int) -> Block:
        """The blocks of ``level`` merged from their changes, level by level as stored."""
        first = (block - self.offsets[level]) << level
        parts = self.leaves(first[:, None] + np.arange(1 << level))
        for _ in range(level):
            parts = merge(tuple(p[:, 0::2] for p in parts), tuple(p[:, 1::2] for p in parts))
        return tuple(p[:, 0] for p in parts)

    def leaves(self, change: NDArray[np.int64]) -> Block:
        """Single changes as blocks (padding past the last change: no weight, empty LR range)."""
        m = self.change_step.size
        real = change < m
        step = self.change_step[np.minimum(change, max(m - 1, 0))] if m else np.ones_like(change)
        previous, eta = self.lr[np.maximum(step - 2, 0)], self.lr[step - 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_lr = np.log(eta)
        return (
            np.where(real, np.abs(previous - eta), 0.0),
            np.where(real, self.change_origin[np.minimum(change, m - 1)] if m else 0.0, 0.0),
            np.where(real, log_lr, 0.0),
            np.where(real, log_lr, np.inf),
            np.where(real, log_lr, -np.inf),
        )
