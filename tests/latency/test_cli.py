import json

from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.models import create, save_checkpoint
from edgeprune.models.cfg_writer import write_cfg_text
from edgeprune.models.checkpoint import Checkpoint
from edgeprune.onnxio.serialize import onnx_bytes

FAST_ARGS = ["--ort-threads", "1", "--protocol", "warmup_seconds=0.02", "--protocol", "min_runs=10",
             "--protocol", "max_seconds=0.5", "--protocol", "target_rel_ci=0.05",
             "--protocol", "drift_every=0"]


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_latency_of_a_builtin_then_from_the_cache(private_cache):
    args = ["latency", "yolov3-tiny", "--classes", "3", "--width", "0.25", "--imgsz", "64",
            "--json", *FAST_ARGS]
    first = _run(args)
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    assert result["input_shape"] == [1, 3, 64, 64] and not result["from_cache"]
    assert result["backend"] == "ort-cpu" and private_cache.is_file()
    second = json.loads(_run(args).stdout)
    assert second["from_cache"] and second["median_ms"] == result["median_ms"]
    third = json.loads(_run([*args, "--no-latency-cache"]).stdout)
    assert not third["from_cache"]


def test_latency_table_of_onnx_cfg_and_checkpoint(tmp_path):
    model = create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)
    (tmp_path / "m.onnx").write_bytes(onnx_bytes(model, (64, 64)))
    (tmp_path / "m.cfg").write_text(write_cfg_text(model.cfg))
    save_checkpoint(Checkpoint(model, ["a", "b", "c"], (64, 64)), tmp_path / "m.pt")
    for name in ("m.onnx", "m.cfg", "m.pt"):
        extra = ["--imgsz", "64"] if name == "m.cfg" else []
        out = _run(["latency", str(tmp_path / name), *extra, *FAST_ARGS])
        assert out.exit_code == 0, out.output
        assert "median" in out.stdout and "1x3x64x64 fp32" in out.stdout


def test_latency_errors_are_one_line(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"junk")
    out = _run(["latency", str(tmp_path / "bad.onnx"), *FAST_ARGS])
    assert out.exit_code == 1 and "not a loadable ONNX model" in out.output
    out = _run(["latency", "yolov3-tiny", "--device", "no-such-robot"])
    assert out.exit_code == 1 and "no device profile 'no-such-robot'" in out.output
    out = _run(["latency", "yolov3-tiny", "--protocol", "max_runs"])
    assert out.exit_code == 1 and "expected FIELD=VALUE" in out.output
    out = _run(["latency", "yolov3-tiny", "--precision", "fp16", *FAST_ARGS])
    assert out.exit_code == 1 and "not fp16" in out.output


def test_lut_command_writes_the_table_and_report(tmp_path):
    out = _run(["latency", "lut", "--weights", "yolov3-tiny", "--classes", "3", "--width",
                "0.25", "--imgsz", "64", "--grid", "0.5,1", "--variants", "1", "--out",
                str(tmp_path), *FAST_ARGS])
    assert out.exit_code == 0, out.output
    run = tmp_path / "latency-lut" / "exp"
    report = json.loads((run / "report.json").read_text())
    assert len(report["validation"]) == 1 and (run / "lut.json").is_file()
    assert "predictor error on 1 variants" in out.stdout
    bad = _run(["latency", "lut", "--weights", "yolov3-tiny", "--grid", "0,2"])
    assert bad.exit_code == 1 and "fractions must be in (0, 1]" in bad.output
