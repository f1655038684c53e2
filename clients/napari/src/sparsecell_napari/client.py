"""The client API, re-exported from the ``sparsecell`` package (``sparsecell-client``), which the plugin uses.

``from sparsecell_napari.client import Client`` keeps working; new code imports ``sparsecell`` directly.
Does not import napari or Qt.
"""

from sparsecell import *  # noqa: F401,F403
from sparsecell import __all__  # noqa: F401
