"""Every kind of bad pipeline is reported before rendering, all together, naming file, node and option."""

from __future__ import annotations

import pytest

from vfx.errors import PipelineError
from vfx.graph import build
from vfx.pipeline import load

from conftest import make_video, run_vfx, write_pipeline

HEADER = """
format = 1
[pipeline]
width = 64
height = 48
fps = 24
duration = 12
"""


def problems_of(path, overrides=None):
    with pytest.raises(PipelineError) as info:
        build(load(path, overrides))
    return info.value.problems


def test_toml_syntax_error_has_line_and_column(tmp_path):
    p = write_pipeline(tmp_path, HEADER + '[nodes.a]\ntype = "source.color"\ncolor = \n')
    with pytest.raises(PipelineError) as info:
        load(p)
    (problem,) = info.value.problems
    assert problem.line == 9
    assert "line 9" in str(problem) and "column" in str(problem)
    assert str(p) in str(problem)


def test_unknown_type_suggests_close_match(tmp_path):
    p = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.a]
type = "source.colour"
[nodes.out]
type = "encode.vidoe"
input = "a"
path = "o.mp4"
""",
    )
    probs = problems_of(p)
    msgs = {pr.node: str(pr) for pr in probs}
    assert "did you mean 'source.color'" in msgs["a"]
    assert "did you mean 'encode.video'" in msgs["out"]
    assert all(pr.option == "type" for pr in probs)
    assert probs[0].line == 9


def test_option_problems_all_reported_together(tmp_path):
    p = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.bars]
type = "source.testpattern"
patern = "bars"
tone = "loud"
tone_level = 12.0

[nodes.out]
type = "encode.video"
input = "bars"
crf = 99
""",
    )
    probs = problems_of(p)
    got = {(pr.node, pr.option): pr.message for pr in probs}
    assert "did you mean 'pattern'" in got[("bars", "patern")]
    assert "expected a number" in got[("bars", "tone")]
    assert "at most 0.0" in got[("bars", "tone_level")]
    assert "missing required option" in got[("out", "path")]
    assert "at most 63" in got[("out", "crf")]
    assert len(probs) == 5
    assert all(pr.file == str(p) and pr.line for pr in probs)


def test_wrong_types(tmp_path):
    p = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.c]
type = "source.color"
color = "not-a-colour"
size = [64]
duration = 1.5
[nodes.out]
type = "encode.video"
input = "c"
path = "o.mp4"
codec = "h263"
""",
    )
    got = {(pr.node, pr.option): pr.message for pr in problems_of(p)}
    assert "expected a colour" in got[("c", "color")]
    assert "list of 2 integers" in got[("c", "size")]
    assert 'write "1.5s"' in got[("c", "duration")]
    assert "h264" in got[("out", "codec")]


def test_unknown_input_and_cycle(tmp_path):
    p = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.t1]
type = "editor.trim"
input = "t2"
[nodes.t2]
type = "editor.trim"
input = "t1"
[nodes.out]
type = "encode.video"
input = "t11"
path = "o.mp4"
""",
    )
    probs = problems_of(p)
    text = "\n".join(map(str, probs))
    assert "unknown input 't11' (did you mean 't1'?)" in text
    assert "cycle through nodes t1 -> t2 -> t1;" in text


def test_video_where_audio_expected_and_reverse(tmp_path):
    p = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.silent]
type = "source.testpattern"
[nodes.tone]
type = "source.testpattern"
tone = 440
[nodes.out]
type = "encode.video"
input = "silent"
audio = "silent"
path = "o.mp4"
""",
    )
    (pr,) = problems_of(p)
    assert pr.node == "out" and pr.option == "audio"
    assert "has no audio" in pr.message


def test_missing_and_unreadable_media(tmp_path):
    (tmp_path / "garbage.mp4").write_bytes(b"this is not a video" * 100)
    p = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.a]
type = "source.video"
path = "missing.mp4"
[nodes.b]
type = "source.video"
path = "garbage.mp4"
[nodes.c]
type = "source.image"
path = "garbage.mp4"
[nodes.out]
type = "encode.video"
input = "b"
path = "o.mp4"
""",
    )
    got = {(pr.node, pr.option): pr.message for pr in problems_of(p)}
    assert "file not found" in got[("a", "path")] and "missing.mp4" in got[("a", "path")]
    assert "cannot open" in got[("b", "path")] and "garbage.mp4" in got[("b", "path")]
    assert ("c", "path") in got


def test_output_equal_to_input_is_refused(tmp_path):
    make_video(tmp_path / "in.mp4", frames=6)
    p = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.a]
type = "source.video"
path = "in.mp4"
[nodes.out]
type = "encode.video"
input = "a"
path = "in.mp4"
""",
    )
    (pr,) = problems_of(p)
    assert "refusing to overwrite an input" in pr.message and pr.option == "path"


def test_vars_and_set_overrides(tmp_path):
    p = write_pipeline(
        tmp_path,
        HEADER
        + """
[vars]
name = "first"
colour = "#ff0000"
[nodes.c]
type = "source.color"
color = "${colour}"
[nodes.out]
type = "encode.video"
input = "c"
path = "out/${name}.mp4"
crf = 30
""",
    )
    graph = build(load(p, ["name=second", "out.crf=18", "pipeline.width=32", 'vars.colour="#00ff00"']))
    out = graph.nodes["out"]
    assert out.options.path == tmp_path / "out" / "second.mp4"
    assert out.options.crf == 18
    assert graph.nodes["c"].video.width == 32
    assert graph.nodes["c"].options.color[:3] == (0.0, 1.0, 0.0)
    probs = problems_of(
        write_pipeline(
            tmp_path,
            HEADER
            + """
[nodes.c]
type = "source.color"
color = "${nope}"
""",
            "q.toml",
        )
    )
    assert "unknown variable ${nope}" in str(probs[0]) and probs[0].node == "c"


def test_pipeline_settings_are_checked(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
format = 2
[pipeline]
width = 101
fps = "fast"
duration = "forever"
colour = 3
[vars]
full = "${name}-v2"
name = "spot"
[nodes.c]
type = "source.color"
color = "${full}"
[nodes.d]
kind = "source.color"
""",
    )
    text = "\n".join(map(str, problems_of(p)))
    for word in (
        "unsupported format 2",
        "even integer",
        "frame rate",
        "expected frames",
        "unknown pipeline setting",
        "got 'spot-v2'",
        "node 'd': option 'type': missing 'type'",
    ):
        assert word in text  # settings, vars (resolved through each other) and nodes: all at once


def test_cli_exit_codes_and_no_traceback(tmp_path):
    good = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.c]
type = "source.color"
[nodes.out]
type = "encode.video"
input = "c"
path = "o.mp4"
""",
        "good.toml",
    )
    bad = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.c]
type = "source.color"
color = 7
[nodes.out]
type = "encode.video"
input = "d"
path = "o.mp4"
""",
        "bad.toml",
    )
    ok = run_vfx("validate", good)
    assert ok.returncode == 0, ok.stderr
    assert "ok: out" in ok.stdout
    res = run_vfx("validate", bad)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "bad.toml:10: node 'c': option 'color'" in res.stderr
    assert "node 'out': option 'input': unknown input 'd'" in res.stderr
    assert "2 problems found" in res.stderr
    res = run_vfx("render", bad)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert not (tmp_path / "o.mp4").exists()
    assert run_vfx("validate", tmp_path / "nope.toml").returncode == 2


def test_unwritable_output_folder_and_unknown_set_node(tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    p = write_pipeline(
        tmp_path,
        HEADER
        + """
[nodes.c]
type = "source.color"
[nodes.out]
type = "encode.video"
input = "c"
path = "notes.txt/o.mp4"
""",
    )
    got = {(pr.node, pr.option): pr.message for pr in problems_of(p, ["ghost.crf=3"])}
    assert "notes.txt is not a folder" in got[("out", "path")]
    assert "--set names node 'ghost'" in got[("ghost", None)]


def test_a_crash_in_configure_names_the_node_and_plugin(tmp_path):
    import vfx
    from vfx.plugins import get_registry

    class Broken(vfx.Effect):
        """Crashes while configuring (for tests)."""

        type = "test.broken"

        def configure(self):
            return self.no_such_attribute

    reg = get_registry()
    reg.nodes[Broken.type], reg.node_plugin[Broken.type] = Broken, "tests"
    try:
        p = write_pipeline(
            tmp_path,
            HEADER
            + """
[nodes.c]
type = "source.color"
[nodes.b]
type = "test.broken"
input = "c"
[nodes.out]
type = "encode.video"
input = "b"
path = "o.mp4"
""",
        )
        (pr,) = problems_of(p)
        assert pr.node == "b" and "test.broken (plugin 'tests') failed to configure: AttributeError" in pr.message
    finally:
        reg.nodes.pop(Broken.type)
        reg.node_plugin.pop(Broken.type)
