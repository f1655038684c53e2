"""napari's sample-data entry: the synthetic nuclei image of the sparsecell client package."""

from __future__ import annotations

from sparsecell import synthetic_nuclei

__all__ = ["synthetic_nuclei", "make_sample_data"]


def make_sample_data():
    """npe2 sample-data command: the synthetic nuclei image as an Image layer."""
    img, _ = synthetic_nuclei()
    return [(img, {"name": "sparsecell nuclei"}, "image")]
