"""Bad inputs named in issue 15 end in one clear line and a non-zero exit."""

from __future__ import annotations

from click.testing import CliRunner

from edgeprune.cli import main


def one_line_error(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_info_on_empty_and_damaged_onnx_files(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert one_line_error("info", empty) == f"error: {empty}: the file is empty, not an ONNX model"
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk junk junk")
    assert f"{junk}: not a loadable ONNX model" in one_line_error("info", junk)
    from onnx import helper

    hollow = tmp_path / "hollow.onnx"
    hollow.write_bytes(helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString())
    assert f"{hollow}: not an ONNX model (no graph inputs or nodes)" in one_line_error("info",
                                                                                      hollow)


def test_a_corrupt_latency_cache_says_what_to_do(tmp_path):
    cache = tmp_path / "latency.sqlite"
    cache.write_bytes(b"this is not sqlite" * 100)
    line = one_line_error("latency", "yolov3-tiny", "--classes", 2, "--width", 0.25, "--imgsz",
                          64, "--latency-cache", cache)
    assert str(cache) in line and "delete it" in line
    # `search --resume` has no such option to give
    assert "--no-latency-cache" not in line and "--no-cache" not in line


def test_out_beside_an_explicit_name_is_refused_before_any_work(tmp_path):
    """--out is the run folder itself: a --name beside it would be silently ignored."""
    for args in (["train", "--data", "missing.yaml"],
                 ["predict", "--weights", "missing.pt", "--source", str(tmp_path)],
                 ["eval", "sim2real", "--weights", "missing.pt", "--sim", "s.yaml",
                  "--real", "r.yaml"]):
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "run"),
                                           "--name", "mine"])
        assert result.exit_code == 2, (args, result.output)
        assert "give one of them" in result.output, result.output
        assert not (tmp_path / "run").exists()
