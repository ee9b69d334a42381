"""TensorRT's entropy calibrator fed from a calibration set (needs tensorrt and cuda-python).

TensorRT asks for batches until none is left, builds activation histograms and picks each
tensor's int8 range by minimizing the KL divergence (entropy calibration 2, the calibrator
NVIDIA recommends for CNNs). The result is written to the set's cache file for this model;
when that file exists TensorRT reads it and asks for no batches at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeprune.atomic import atomic_write_bytes
from edgeprune.calib.calibset import CalibSet
from edgeprune.trt.build import cuda_call, import_cudart, import_tensorrt


def entropy_calibrator(calib: CalibSet, imgsz: tuple[int, int], cache_path: str | Path,
                       batch_size: int = 8):
    """A trt.IInt8EntropyCalibrator2 over `calib`'s images letterboxed to `imgsz`."""
    trt, cudart = import_tensorrt(), import_cudart()
    batch_size = max(1, min(batch_size, len(calib)))

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)  # pybind11 needs the explicit call
            self.cache_path = Path(cache_path)
            self.batches = calib.batches(imgsz, batch_size)
            self.nbytes = batch_size * 3 * imgsz[0] * imgsz[1] * np.dtype(np.float32).itemsize
            self.device_input = int(cuda_call(cudart, cudart.cudaMalloc(self.nbytes),
                                              "cudaMalloc"))
            self.batches_fed = 0
            self.cache_reused = False

        def get_batch_size(self) -> int:
            return batch_size

        def get_batch(self, names, *_):
            batch = next(self.batches, None)
            if batch is None:
                return None
            host = np.ascontiguousarray(batch, dtype=np.float32)
            cuda_call(cudart, cudart.cudaMemcpy(self.device_input, host.ctypes.data,
                                                self.nbytes,
                                                cudart.cudaMemcpyKind.cudaMemcpyHostToDevice),
                      "cudaMemcpy")
            self.batches_fed += 1
            return [self.device_input] * len(names)

        def read_calibration_cache(self):
            if self.cache_path.is_file():
                self.cache_reused = True
                return self.cache_path.read_bytes()
            return None

        def write_calibration_cache(self, cache) -> None:
            atomic_write_bytes(self.cache_path, bytes(memoryview(cache)))

        def free(self) -> None:
            if self.device_input:
                cudart.cudaFree(self.device_input)
                self.device_input = 0

    return EntropyCalibrator()
