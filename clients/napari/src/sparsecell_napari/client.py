"""Public client API: ``from sparsecell_napari.client import Client``. Does not import napari or Qt."""

from ._client import *  # noqa: F401,F403
from ._client import __all__  # noqa: F401
