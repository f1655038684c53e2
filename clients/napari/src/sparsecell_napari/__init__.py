"""sparsecell-napari: paint sparse labels in napari, train a sparsecell model and see its predictions live.

``sparsecell_napari.client`` is the napari-free client library; the dock widget lives in ``_widget``.
"""

__version__ = "0.1.0"

from ._sample_data import make_sample_data, synthetic_nuclei

__all__ = ["__version__", "make_sample_data", "synthetic_nuclei", "SparsecellWidget"]


def __getattr__(name: str):  # the widget imports Qt/napari: load it only when asked
    if name == "SparsecellWidget":
        from ._widget import SparsecellWidget

        return SparsecellWidget
    raise AttributeError(name)
