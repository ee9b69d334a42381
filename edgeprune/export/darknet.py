"""The old home of the Darknet file export, kept for scripts that import it from here: the
module is now edgeprune.models.darknet_files (model loading reads the manifest it writes).
"""

from edgeprune.models.darknet_files import darknet_manifest, export_darknet  # noqa: F401
