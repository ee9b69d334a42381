"""Scripts written against the old module paths of the ONNX and Darknet exports keep working."""

from __future__ import annotations


def test_the_old_export_paths_name_the_moved_functions():
    from edgeprune.export.darknet import darknet_manifest, export_darknet
    from edgeprune.export.onnx import META_CFG, export_onnx, onnx_bytes, read_onnx_metadata
    from edgeprune.models import darknet_files
    from edgeprune.onnxio import serialize

    assert (export_onnx, onnx_bytes, read_onnx_metadata, META_CFG) == (
        serialize.export_onnx, serialize.onnx_bytes, serialize.read_onnx_metadata,
        serialize.META_CFG)
    assert (export_darknet, darknet_manifest) == (darknet_files.export_darknet,
                                                  darknet_files.darknet_manifest)
