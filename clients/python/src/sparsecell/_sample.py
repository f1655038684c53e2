"""A small synthetic nuclei image generated in code (no downloads), for examples, tests and napari's sample menu."""

from __future__ import annotations

import numpy as np

__all__ = ["synthetic_nuclei"]


def synthetic_nuclei(
    shape: tuple[int, int] = (128, 128),
    n: int = 14,
    radius: tuple[float, float] = (5.0, 9.0),
    seed: int = 0,
    noise: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(image uint8, instances int32)``: bright elliptic blobs on a dim noisy background."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inst = np.zeros(shape, np.int32)
    img = np.full(shape, 20.0, np.float32)
    k = 0
    for _ in range(n * 20):
        if k >= n:
            break
        ry, rx = rng.uniform(*radius, size=2)
        cy, cx = rng.uniform(ry + 1, h - ry - 1), rng.uniform(rx + 1, w - rx - 1)
        theta = rng.uniform(0, np.pi)
        c, s = np.cos(theta), np.sin(theta)
        dy, dx = yy - cy, xx - cx
        u, v = (c * dy + s * dx) / ry, (-s * dy + c * dx) / rx
        mask = u * u + v * v <= 1.0
        if (inst[mask] > 0).any() or (inst[np.maximum(u * u + v * v, 0) <= 1.3] > 0).any():
            continue
        k += 1
        inst[mask] = k
        img[mask] += rng.uniform(120, 200) * (1.0 - 0.35 * (u[mask] ** 2 + v[mask] ** 2))
    img += rng.normal(0, noise, size=shape)
    return np.clip(img, 0, 255).astype(np.uint8), inst
