"""Sparse-RS in the L1 ball: a score-based random search over which pixels to change (Croce, Singh,
Andriushchenko, Flammarion and Hein, AAAI 2022), the strongest attack's gradient-free member in L1.

Square Attack has no L1 version, and gradient attacks alone are not enough there: a model trained against
L-inf attacks learns to threshold its input, which flattens its gradient for L1 attacks (on the bundled robust
model APGD-L1 leaves 83% standing at L1 eps 10 while this search, with no gradient at all, brings it to 6.5% with
1,000 queries; ``benchmarks/l1_search.py``).

The search moves ``k = max(1, floor(eps))`` pixels, each by ``a = min(1, eps / k)`` towards the far end of the
range (a pixel below 0.5 goes up, the others down; ``a = 1`` sends it all the way to 0 or 1), so every candidate
is an image of the L1 ball of radius eps inside [0, 1]:

    S_0 = k random pixels;  x_0 = move(x, S_0)                        (1 query)
    for t = 0 .. queries - 2:                                         (1 query each)
        m_t = max(1, round(p_t * k))  with p_t = p_selection(p_init, t, queries) (Square Attack's schedule)
        S'  = S_t with m_t of its pixels swapped for m_t random pixels outside it
        keep S' where margin(move(x, S')) < margin(x_t)

with ``margin = z_y - max_{i != y} z_i`` (negative exactly when the model is fooled). It is an L0 attack
inside the L1 ball: with eps >= 1 it sets ``floor(eps)`` pixels to 0 or 1, the sparsest way to spend an L1
budget, which is what fools MNIST models. Deviations from the paper: the new value of a pixel is the far end
of the range rather than a random end (on MNIST's mostly-black images a random end leaves about half of the
chosen pixels unchanged; measured with a prototype of this search on the robust model at L1 eps 10, 300
queries, 200 images: 35% left standing with random ends, 18.5% with far ends); fooled examples stop, and an
example whose search never beats its clean margin is returned clean.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from advdemo.attacks.square import best_chain, check_attack_inputs, p_selection
from advdemo.models import predict_logits

#: The fraction of the k pixels swapped by the first updates (the paper's alpha_init for L0 attacks).
P_INIT = 0.3


def pixel_budget(epsilon: float) -> tuple[int, float]:
    """(k pixels, amount each moves) for an L1 radius: ``k = max(1, floor(eps))``, ``a = min(1, eps / k)``,
    so ``k * a <= eps``."""
    k = max(1, int(np.floor(epsilon)))
    return k, min(1.0, epsilon / k)


def _margins(model, flat: np.ndarray, labels: np.ndarray, shape: tuple, batch_size: int) -> np.ndarray:
    logits = predict_logits(model, flat.reshape((-1,) + shape), batch_size)
    rows = np.arange(len(labels))
    label_logit = logits[rows, labels]
    others = logits.copy()
    others[rows, labels] = -np.inf
    return label_logit - others.max(axis=1)


def _attack_batch(model, images: np.ndarray, labels: np.ndarray, epsilon: float, queries: int, p_init: float,
                  rng: np.random.Generator, chains: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sparse-RS on one batch (each image ``chains`` times in a row): (adversarial images, their margins)."""
    shape = images.shape[1:]
    x = images.reshape(len(images), -1)
    n, d = x.shape
    k, amount = pixel_budget(epsilon)
    k = min(k, d)
    moved = x + np.clip(np.where(x < 0.5, 1.0, 0.0) - x, -amount, amount).astype(np.float32)

    def build(rows: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        candidate = x[rows].copy()
        np.put_along_axis(candidate, pixels, np.take_along_axis(moved[rows], pixels, axis=1), axis=1)
        return candidate

    clean_margin = _margins(model, x, labels, shape, len(x))
    pixels = np.argpartition(rng.random((n, d)), k - 1, axis=1)[:, :k]
    every = np.arange(n)
    best = _margins(model, build(every, pixels), labels, shape, len(x))
    for t in range(queries - 1):
        active = np.flatnonzero(np.repeat(np.all((best >= 0).reshape(-1, chains), axis=1), chains))
        if active.size == 0:
            break
        swaps = max(1, int(round(float(p_selection(p_init, t, queries)) * k)))
        swaps = min(swaps, k, d - k) if d > k else 0
        if swaps == 0:
            break
        proposal = pixels[active].copy()
        slots = np.argpartition(rng.random((active.size, k)), swaps - 1, axis=1)[:, :swaps]
        keys = rng.random((active.size, d))
        np.put_along_axis(keys, proposal, 2.0, axis=1)  # pixels already chosen are never drawn again
        fresh = np.argpartition(keys, swaps - 1, axis=1)[:, :swaps]
        np.put_along_axis(proposal, slots, fresh, axis=1)
        margin = _margins(model, build(active, proposal), labels[active], shape, len(x))
        better = margin < best[active]
        pixels[active[better]] = proposal[better]
        best[active[better]] = margin[better]
    improved = best < clean_margin
    adversarial = np.where(improved[:, None], build(every, pixels), x)
    return adversarial.reshape(images.shape), np.where(improved, best, clean_margin)


def sparse_rs_attack(model, images: np.ndarray, labels: np.ndarray, epsilon: float, queries: int = 1000,
                     p_init: float = P_INIT, seed: int = 0, batch_size: int = 1000,
                     on_batch: Callable[[int, int], None] | None = None, chains: int = 1) -> np.ndarray:
    """Untargeted Sparse-RS in the L1 ball of radius ``epsilon`` (score-based, no gradients).

    Args:
        model: a Keras classifier, images (batch, 28, 28, 1) in [0, 1] -> logits (batch, classes).
        images: float32 (n, height, width, channels) in [0, 1]; labels: int (n,) true classes.
        epsilon: the L1 radius (0 returns the images unchanged).
        queries: model evaluations per example (the init and ``queries - 1`` updates; fooled examples stop
            early); 0 returns the images unchanged.
        p_init: the fraction of the chosen pixels that the first updates swap.
        seed: the search is a function of (seed, images, batch_size).
        batch_size: images attacked at once.
        on_batch: called as ``on_batch(done, total)`` after each batch, for progress.
        chains: independent searches of each image side by side (``queries`` each); the image's result is the
            chain with the lowest margin, and all its chains stop once one fools the model (as in
            ``advdemo.attacks.square.square_attack``).

    Returns:
        float32 array shaped like ``images``, each within ``epsilon`` of the original in L1 and inside [0, 1].

    Raises:
        ValueError: a bad shape, pixels outside [0, 1] or a bad setting.
    """
    images, labels = check_attack_inputs(images, labels, epsilon, queries, p_init, batch_size)
    if not (isinstance(chains, int) and chains >= 1):
        raise ValueError(f"chains must be an integer >= 1, got {chains!r}")
    total = len(images)
    if queries == 0 or total == 0 or epsilon == 0:
        if on_batch is not None:
            on_batch(total, total)
        return images.copy()
    per_batch = max(1, batch_size // chains)  # images per batch, each with its chains
    adversarial = []
    for start in range(0, total, per_batch):
        stop = min(start + per_batch, total)
        rng = np.random.default_rng([seed, start] if chains == 1 else [seed, start, chains])
        found, margins = _attack_batch(model, np.repeat(images[start:stop], chains, axis=0),
                                       np.repeat(labels[start:stop].astype(np.int64), chains), epsilon, queries,
                                       p_init, rng, chains)
        adversarial.append(best_chain(found, margins, chains)[0])
        if on_batch is not None:
            on_batch(stop, total)
    return np.concatenate(adversarial).astype(np.float32)
