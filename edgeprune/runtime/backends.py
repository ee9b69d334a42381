"""Inference runtimes: one small class per engine behind a registry, chosen by name or by file.

("Runtime", not "backend": a backend is what measures latency, edgeprune.latency.backends.)
A runtime turns a preprocessed batch (B, 3, H, W) float32 RGB in [0, 1] into the model's output
rows (B, N, 5 + C) (the ONNX output contract, onnxio/serialize.py); everything before and after is
the Detector's job, so every engine runs exactly the same pre- and post-processing. `torch` runs
checkpoints, Darknet files and in-memory models (the search scores candidates without
exporting); `onnxruntime` runs .onnx files on the CPU or, with onnxruntime-gpu, CUDA;
`tensorrt` (tensorrt_backend.py) runs engines. Another engine plugs in with `@register_runtime`
and an `accepts` rule for its files.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.registry import Registry


class Runtime(ABC):
    """Runs a detector on preprocessed batches. Subclasses set the attributes in __init__."""

    name: ClassVar[str]
    imgsz: tuple[int, int] | None = None  # (h, w) the model was made for, when it says
    fixed_imgsz: bool = False  # True when the engine cannot run any other input size
    names: list[str] | None = None
    num_classes: int = 0
    device: str = "cpu"

    @classmethod
    @abstractmethod
    def accepts(cls, source) -> bool:
        """Whether runtime="auto" should pick this runtime for `source`."""

    @abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 RGB [0, 1] -> (B, N, 5 + C) float32 rows."""

    def describe(self) -> str:
        return f"{self.name} ({self.device})"


# torch and onnxruntime are defined below; tensorrt_backend.py registers `tensorrt` when the
# registry is first asked (it imports this module, so it cannot be imported from here).
RUNTIMES: Registry[type[Runtime]] = Registry(
    "inference runtime", builtins="edgeprune.runtime.tensorrt_backend")
register_runtime = RUNTIMES.register  # class decorator: by `name`, and for runtime="auto"


def create_runtime(source, runtime: str = "auto", **options) -> Runtime:
    """The runtime named `runtime` (or the first that accepts `source`) loaded with `source`."""
    if runtime == "auto":
        for cls in map(RUNTIMES.get, RUNTIMES.names()):
            if cls.accepts(source):
                return cls(source, **options)
        shown = source if isinstance(source, (str, Path)) else type(source).__name__
        raise EdgepruneError(f"{shown}: no inference runtime for this model (known: "
                             f"{', '.join(RUNTIMES.names())}; .pt/.cfg/.weights run on torch, "
                             f".onnx on onnxruntime, .engine on tensorrt)")
    return RUNTIMES.create(runtime, source, **options)


def _suffix(source) -> str:
    return Path(source).suffix.lower() if isinstance(source, (str, Path)) else ""


@register_runtime
class TorchRuntime(Runtime):
    """A DarknetModel in torch: from a checkpoint, Darknet cfg + weights, or in memory.

    An in-memory model is used as is (not copied), on its own device, and left in the
    train/eval mode it came in; the search and the training loop rely on both.
    """

    name = "torch"

    def __init__(self, source, *, cfg: str | Path | None = None, device: str | None = None,
                 half: bool = False) -> None:
        import torch

        from edgeprune.models.checkpoint import Checkpoint
        from edgeprune.models.darknet import DarknetModel
        from edgeprune.models.loading import load_model

        if isinstance(source, DarknetModel):
            self.model = source
            self.imgsz = (source.cfg.net.height, source.cfg.net.width)
        else:
            ckpt = source if isinstance(source, Checkpoint) else load_model(source, cfg)
            self.model = ckpt.model
            self.imgsz = ckpt.imgsz
            self.names = list(ckpt.names)
        parameter = next(self.model.parameters(), None)
        current = parameter.device if parameter is not None else torch.device("cpu")
        if device is not None:
            self.model.to(device)
            current = torch.device(device)
        elif not isinstance(source, (DarknetModel, Checkpoint)) and torch.cuda.is_available():
            self.model.to("cuda")
            current = torch.device("cuda")
        self._device = current
        self._dtype = torch.float16 if half and current.type == "cuda" else torch.float32
        if self._dtype == torch.float16:
            self.model.half()
        self.device = str(current)
        self.num_classes = self.model.num_classes

    @classmethod
    def accepts(cls, source) -> bool:
        from edgeprune.models.checkpoint import Checkpoint
        from edgeprune.models.darknet import DarknetModel

        return (isinstance(source, (DarknetModel, Checkpoint))
                or _suffix(source) in (".pt", ".pth", ".weights", ".cfg"))

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                images = torch.from_numpy(np.ascontiguousarray(batch)).to(self._device,
                                                                          self._dtype)
                rows = self.model(images)
        finally:
            self.model.train(was_training)
        return rows.float().cpu().numpy()


@register_runtime
class OrtRuntime(Runtime):
    """An .onnx file (or its bytes) in ONNX Runtime: CUDA when onnxruntime-gpu has it, else CPU.

    Names and input size come from edgeprune's metadata (onnxio/serialize.py), or from a static
    input shape for ONNX files made elsewhere. A file exported with a fixed batch runs larger
    batches in chunks.
    """

    name = "onnxruntime"

    def __init__(self, source, *, device: str | None = None, threads: int | None = None,
                 providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        from edgeprune.onnxio.serialize import META_IMGSZ, META_NAMES
        from edgeprune.onnxio.session import exact_int8

        label = "model bytes" if isinstance(source, bytes) else str(source)
        if not isinstance(source, bytes) and not Path(source).is_file():
            raise EdgepruneError(f"{source}: file not found")
        options = exact_int8(ort.SessionOptions())
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        providers = providers or self._providers(device, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(
                source if isinstance(source, bytes) else str(source), options,
                providers=providers)
        except Exception as exc:  # ORT raises Fail/InvalidGraph/... for unloadable files
            raise EdgepruneError(f"{label}: ONNX Runtime cannot load this model "
                                 f"({str(exc).strip().splitlines()[0]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise EdgepruneError(f"{label}: expected one NCHW image input, got "
                                 f"{[(i.name, i.shape) for i in inputs]}")
        out_shape = outputs[0].shape
        if len(out_shape) != 3:
            raise EdgepruneError(f"{label}: output {outputs[0].name} {out_shape} is not "
                                 f"(batch, boxes, 5 + classes) detection rows")
        self._input_name = inputs[0].name
        self._input_dtype = np.float16 if "float16" in inputs[0].type else np.float32
        batch_dim, _, height, width = inputs[0].shape
        self._fixed_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None
        metadata = self.session.get_modelmeta().custom_metadata_map
        if isinstance(height, int) and isinstance(width, int):
            self.imgsz, self.fixed_imgsz = (height, width), True
        elif META_IMGSZ in metadata:
            self.imgsz = tuple(int(v) for v in json.loads(metadata[META_IMGSZ]))
        if META_NAMES in metadata:
            self.names = list(json.loads(metadata[META_NAMES]))
        self.num_classes = self._row_length(out_shape[2], label) - 5
        used = self.session.get_providers()[0]
        self.device = "cuda" if used == "CUDAExecutionProvider" else "cpu"

    def _row_length(self, declared, label: str) -> int:
        """Values per output row: from the graph when static, else from one dry run (the
        exporter leaves the concatenated dimension symbolic)."""
        length = declared
        if not isinstance(length, int):
            if self.imgsz is None:
                raise EdgepruneError(f"{label}: neither the output rows nor the input size are "
                                     f"stated; export it with a fixed input size")
            probe = np.zeros((self._fixed_batch or 1, 3, *self.imgsz), self._input_dtype)
            length = self._run(probe).shape[-1]
        if length < 6:
            raise EdgepruneError(f"{label}: output rows of {length} values are not detection "
                                 f"rows (cx, cy, w, h, objectness, classes...)")
        return length

    @staticmethod
    def _providers(device: str | None, available: list[str]) -> list[str]:
        wants_cuda = device is None or str(device).startswith("cuda")
        if wants_cuda and "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if device is not None and str(device).startswith("cuda"):
            raise EdgepruneError("device cuda asked for, but this onnxruntime has no "
                                 "CUDAExecutionProvider (install onnxruntime-gpu)")
        return ["CPUExecutionProvider"]

    @classmethod
    def accepts(cls, source) -> bool:
        return isinstance(source, bytes) or _suffix(source) == ".onnx"

    def run(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=self._input_dtype)
        step = self._fixed_batch
        if step is None or step == len(batch):
            return self._run(batch)
        chunks = []
        for start in range(0, len(batch), step):
            chunk = batch[start:start + step]
            missing = step - len(chunk)
            if missing:  # the last chunk is padded to the engine's batch and trimmed after
                chunk = np.concatenate([chunk, np.zeros((missing, *chunk.shape[1:]),
                                                        chunk.dtype)])
            chunks.append(self._run(chunk)[:step - missing])
        return np.concatenate(chunks)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self._input_name: batch})[0],
                          dtype=np.float32)
