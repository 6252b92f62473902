"""Hostile pipelines, as a careless user or script writes them: each is refused through the real CLI with
exit 2, a message naming the file (and line, node, option where there is one), no traceback, and no file
in its folder touched; parsing stays bounded however large or deep the input."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from vfx.cli import main

HEAD = """format = 1
[pipeline]
width = 32
height = 32
fps = 24
duration = 2
"""
OUT = """
[nodes.out]
type = "encode.video"
input = "{src}"
path = "out.mp4"
"""
SRT = "1\n00:00:00,000 --> 00:00:01,000\nhello\n"


@dataclass
class Case:
    name: str
    text: str  # the pipeline file (HEAD is not added)
    fragment: str  # a piece of the message expected
    node: str | None = None  # the node the message names
    option: str | None = None  # the option it names
    sets: tuple[str, ...] = ()
    rc: int = 2
    line: bool = True  # whether the message has a line number
    command: str = "validate"


def pipe(body: str, src: str = "c", head: str = HEAD) -> str:
    """A pipeline of ``head``, ``body`` and an encoder of node ``src``."""
    return head + body + OUT.format(src=src)


def node(node_id: str, type_name: str, **options: str) -> str:
    """A ``[nodes.ID]`` table; option values are written as given (TOML text)."""
    return f'\n[nodes.{node_id}]\ntype = "{type_name}"\n' + "".join(f"{k} = {v}\n" for k, v in options.items())


COLOR = node("c", "source.color")


def chain(n: int, reverse: bool = False) -> str:
    """A source and ``n - 1`` trims in a line, the tables in the file in order or reversed."""
    tables = [node("n0", "source.color")] + [node(f"n{i}", "editor.trim", input=f'"n{i - 1}"') for i in range(1, n)]
    return pipe("".join(reversed(tables) if reverse else tables), src=f"n{n - 1}")


def doubling_vars(levels: int) -> str:
    lines = ['v0 = "abcdefghij"'] + [f'v{i} = "${{v{i - 1}}}${{v{i - 1}}}"' for i in range(1, levels)]
    return (
        HEAD
        + "[vars]\n"
        + "\n".join(lines)
        + "\n"
        + COLOR
        + f"""
[nodes.out]
type = "encode.video"
input = "c"
path = "${{v{levels - 1}}}.mp4"
"""
    )


def sequence(path: str) -> str:
    return HEAD + COLOR + f'\n[nodes.out]\ntype = "encode.image_sequence"\ninput = "c"\npath = "{path}"\n'


CASES = [
    # 5: deep and long inputs
    Case("chain-10001-nodes", chain(10_001, reverse=True), "more than 10000 (the limit)", option="nodes", line=False),
    Case("toml-arrays-5000-deep", HEAD + "x = " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels deep"),
    Case(
        "toml-inline-tables-5000-deep",
        HEAD + "x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
        "nested more than 32 levels deep",
    ),
    Case("toml-dotted-key-5000-deep", HEAD + "a." * 5000 + "b = 1\n", "nested more than 32 levels deep", line=False),
    Case(
        "expression-100k-terms",
        pipe(
            node("c", "source.color", duration=2)
            + node("g", "effect.grade", input='"c"', exposure='{ expr = "' + "+".join(["t"] * 100_000) + '" }'),
            src="g",
        ),
        "is too long (199999 characters, at most 2000)",
        node="g",
        option="exposure",
    ),
    Case(
        "time-400-digits",
        pipe(node("c", "source.color", duration='"' + "9" * 400 + 's"')),
        "a time is at most 64 characters",
        node="c",
        option="duration",
    ),
    Case(
        "time-5000-digits",
        pipe(node("c", "source.color", duration='"' + "1" * 5000 + '"')),
        "a time is at most 64 characters",
        node="c",
        option="duration",
    ),
    Case(
        "time-beyond-frame-cap",
        pipe(node("c", "source.color", duration='"' + "9" * 60 + 's"')),
        "more than 1000000 frames (the limit; set the environment variable VFX_MAX_FRAMES",
        node="c",
        option="duration",
    ),
    Case(
        "pipeline-duration-huge-int",
        pipe(COLOR, head=HEAD.replace("duration = 2", "duration = 9223372036854775807")),
        "more than 1000000 frames",
        option="duration",
    ),
    Case(
        "keyframe-time-huge",
        pipe(
            node("c", "source.color")
            + node("g", "effect.grade", input='"c"', exposure='{ keyframes = [[0, 0.0], ["99999999999h", 1.0]] }'),
            src="g",
        ),
        "keyframe 2: time",
        node="g",
        option="exposure",
    ),
    Case(
        "fps-exponent",
        pipe(COLOR, head=HEAD.replace("fps = 24", 'fps = "1e999999999"')),
        "expected a frame rate",
        option="fps",
    ),
    # 6: sections of the wrong type, --set keys that are no key
    Case(
        "vars-is-a-number",
        HEAD.replace("format = 1\n", "format = 1\nvars = 5\n") + COLOR,
        "'vars' must be a table",
        option="vars",
    ),
    Case("pipeline-is-a-number", "format = 1\npipeline = 5\n" + COLOR, "'pipeline' must be a table", option="pipeline"),
    Case(
        "nodes-is-a-number",
        HEAD.replace("format = 1\n", "format = 1\nnodes = 5\n"),
        "'nodes' must be a table",
        option="nodes",
    ),
    Case("set-nodes", pipe(COLOR), "--set key 'nodes' is not nodes.NODE.OPTION", sets=("nodes=1",), line=False),
    Case("set-nodes-dot", pipe(COLOR), "--set expects KEY=VALUE", sets=("nodes.=1",), line=False),
    Case("set-empty-part", pipe(COLOR), "--set expects KEY=VALUE", sets=("out..crf=1",), line=False),
    Case("set-bad-var-name", pipe(COLOR), "is not a variable name", sets=("my-var=1",), line=False),
    Case(
        "set-deep-value",
        pipe(COLOR),
        "nested more than 32 levels deep",
        sets=("x=" + "[" * 5000 + "]" * 5000,),
        line=False,
    ),
    # 7: expansion without limit, output patterns
    Case("vars-doubling", doubling_vars(40), "longer than 100000 characters", option="vars.v14"),
    Case("sequence-wide-field", sequence("o/f_%0999999999d.png"), "wider than 16 digits", node="out", option="path"),
    Case("sequence-bare-percent", sequence("o/100%_%04d.png"), "is not a frame field", node="out", option="path"),
    Case(
        "sequence-two-fields",
        sequence("o/f_%04d_%d.png"),
        "must contain exactly one frame-number field such as %04d, found 2",
        node="out",
        option="path",
    ),
    Case("sequence-no-field", sequence("o/f.png"), "found 0", node="out", option="path"),
    Case("sequence-string-field", sequence("o/f_%s.png"), "'%s'", node="out", option="path"),
    # 8: sizes
    Case(
        "size-100000",
        pipe(node("c", "source.color", size="[100000, 100000]")),
        "at most 16384 (the size limit; set the environment variable VFX_MAX_SIZE",
        node="c",
        option="size",
    ),
    Case(
        "pipeline-width-over-cap",
        pipe(COLOR, head=HEAD.replace("width = 32", "width = 100000")),
        "between 16 and 16384",
        option="width",
    ),
    # 9: expressions
    Case(
        "expr-sin-no-args",
        pipe(COLOR + node("g", "effect.grade", input='"c"', exposure='{ expr = "sin()" }'), src="g"),
        "sin() takes 1 argument, got 0",
        node="g",
        option="exposure",
    ),
    Case(
        "expr-clamp-one-arg",
        pipe(COLOR + node("g", "effect.grade", input='"c"', exposure='{ expr = "clamp(t)" }'), src="g"),
        "clamp() takes 3 arguments, got 1",
        node="g",
        option="exposure",
    ),
    Case(
        "expr-sin-two-args",
        pipe(COLOR + node("g", "effect.grade", input='"c"', exposure='{ expr = "sin(t, 1)" }'), src="g"),
        "sin() takes 1 argument, got 2",
        node="g",
        option="exposure",
    ),
    Case(
        "expr-400-digit-literal",
        pipe(COLOR + node("g", "effect.grade", input='"c"', exposure='{ expr = "' + "9" * 400 + ' * t" }'), src="g"),
        "a number is out of range",
        node="g",
        option="exposure",
    ),
    Case(
        "expr-inf-literal",
        pipe(COLOR + node("g", "effect.grade", input='"c"', exposure='{ expr = "1e999" }'), src="g"),
        "a number is out of range",
        node="g",
        option="exposure",
    ),
    Case(
        "expr-function-as-value",
        pipe(COLOR + node("g", "effect.grade", input='"c"', exposure='{ expr = "sin + 1" }'), src="g"),
        "'sin' is a function",
        node="g",
        option="exposure",
    ),
    Case(
        "expr-deep-unary",
        pipe(COLOR + node("g", "effect.grade", input='"c"', exposure='{ expr = "' + "-" * 1990 + 't" }'), src="g"),
        "expression",
        node="g",
        option="exposure",
    ),
    # 10: nan and inf
    Case(
        "exposure-nan",
        pipe(COLOR + node("g", "effect.grade", input='"c"', exposure="nan"), src="g"),
        "expected a finite number, got nan",
        node="g",
        option="exposure",
    ),
    Case(
        "translate-inf",
        pipe(COLOR + node("x", "effect.transform", input='"c"', translate="[inf, 0]"), src="x"),
        "expected finite numbers",
        node="x",
        option="translate",
    ),
    Case(
        "layer-opacity-nan",
        pipe(COLOR + node("k", "editor.composite", layers='[{ input = "c", opacity = nan }]'), src="k"),
        "'opacity': expected a finite number",
        node="k",
        option="layers",
    ),
    Case(
        "keyframe-value-nan",
        pipe(COLOR + node("g", "effect.grade", input='"c"', exposure="{ keyframes = [[0, 0.0], [1, nan]] }"), src="g"),
        "keyframe 2: expected a finite number",
        node="g",
        option="exposure",
    ),
    Case(
        "speed-inf",
        pipe(COLOR + node("s", "editor.speed", input='"c"', factor="inf"), src="s"),
        "expected a finite number, got inf",
        node="s",
        option="factor",
    ),
    Case(
        "speed-nan",
        pipe(COLOR + node("s", "editor.speed", input='"c"', factor="nan"), src="s"),
        "expected a finite number, got nan",
        node="s",
        option="factor",
    ),
    Case(
        "sigma-nan",
        pipe(COLOR + node("b", "effect.blur", input='"c"', sigma="nan"), src="b"),
        "expected a finite number, got nan",
        node="b",
        option="sigma",
    ),
    Case(
        "text-size-nan",
        pipe(COLOR + node("t", "source.text", input='"c"', text='"hi"', size="nan"), src="t"),
        "expected a finite number, got nan",
        node="t",
        option="size",
    ),
    Case(
        "drift-huge",
        pipe(node("c", "background.starfield", drift="[1e308, 0]")),
        "every value must be between -1e9 and 1e9",
        node="c",
        option="drift",
    ),
    Case(
        "time-offset-huge",
        pipe(COLOR + node("s", "source.subtitles", input='"c"', path='"cues.srt"', time_offset="1e300"), src="s"),
        "must be between -1e9 and 1e9",
        node="s",
        option="time_offset",
    ),
    Case(
        "font-name-too-long",
        pipe(COLOR + node("t", "source.text", input='"c"', text='"hi"', font='"' + "f" * 3000 + '.ttf"'), src="t"),
        "too long",
        node="t",
        option="font",
    ),
    Case(
        "color-nan", pipe(node("c", "source.color", color="[nan, 0, 0]")), "expected a colour", node="c", option="color"
    ),
    Case(
        "driver-scale-nan",
        pipe(
            COLOR
            + node("l", "signal.luma", input='"c"')
            + node("g", "effect.glow", input='"c"', intensity='{ driver = "l", scale = nan }'),
            src="g",
        ),
        "driver scale must be a finite number",
        node="g",
        option="intensity",
    ),
    Case(
        "bezier-nan",
        pipe(
            COLOR
            + node(
                "g",
                "effect.grade",
                input='"c"',
                exposure="{ keyframes = [[0, 0.0], [1, 1.0]], easing = [0.1, nan, 0.5, 1] }",
            ),
            src="g",
        ),
        "cubic-bezier values must be finite",
        node="g",
        option="exposure",
    ),
    # 11: vars that refer to themselves or each other
    Case("var-self", HEAD + '[vars]\na = "${a}"\n' + pipe(COLOR, head=""), "var 'a' refers to itself", option="vars.a"),
    Case(
        "vars-pair",
        HEAD + '[vars]\na = "x${b}"\nb = "${a}y"\n' + pipe(COLOR, head=""),
        "vars refer to each other in a cycle: a -> b -> a",
        option="vars.a",
    ),
    Case(
        "var-self-in-path",
        HEAD + '[vars]\nname = "${name}"\n' + COLOR + OUT.format(src="c").replace("out.mp4", "${name}.mp4"),
        "var 'name' refers to itself",
        option="vars.name",
        command="render",
    ),
    Case(
        "var-unknown-in-var",
        HEAD + '[vars]\nfull = "${nmae}-v2"\nname = "a"\n' + pipe(COLOR, head=""),
        "unknown variable ${nmae}",
        option="vars.full",
    ),
    # 12: format and --set
    Case(
        "format-true",
        pipe(COLOR, head=HEAD.replace("format = 1", "format = true")),
        "the format version must be an integer (format = 1), got true",
        option="format",
    ),
    Case(
        "format-float",
        pipe(COLOR, head=HEAD.replace("format = 1", "format = 1.0")),
        "must be an integer",
        option="format",
    ),
    # 14: the option named, one error for one mistake, a byte-order mark
    Case(
        "driver-missing-signal",
        pipe(
            COLOR
            + node("l", "signal.luma", input='"c"')
            + node("g", "effect.glow", input='"c"', intensity='{ driver = "l", signal = "nope" }'),
            src="g",
        ),
        "'l' has no signal 'nope'",
        node="g",
        option="intensity",
    ),
    Case(
        "subtitles-offset-inf",
        pipe(COLOR + node("s", "source.subtitles", input='"c"', path='"cues.srt"', time_offset="inf"), src="s"),
        "expected a finite number, got inf",
        node="s",
        option="time_offset",
    ),
    Case(
        "own-input",
        pipe(node("c", "effect.blur", input='"c"')),
        "a node cannot be its own input",
        node="c",
        option="input",
    ),
    Case("bom", "\ufeff" + pipe(COLOR), "ok: out", rc=0),
    Case(
        "render-refused-writes-nothing",
        pipe(node("c", "source.color", size="[100000, 100]")),
        "at most 16384",
        node="c",
        option="size",
        command="render",
    ),
    # values a node's render would choke on: bolts across a billion frame widths, huge text boxes, made-up presets
    Case(
        "lightning-start-far-away",
        pipe(COLOR + node("b", "effect.lightning", input='"c"', start="[1e9, 0]"), src="b"),
        "at most 3.0",
        node="b",
        option="start",
    ),
    Case(
        "lightning-width",
        pipe(COLOR + node("b", "effect.lightning", input='"c"', width="5"), src="b"),
        "at most 0.5",
        node="b",
        option="width",
    ),
    Case(
        "text-box",
        pipe(COLOR + node("t", "source.text", input='"c"', text='"hi"', box="[1e9, 10]"), src="t"),
        "at most 16384",
        node="t",
        option="box",
    ),
    Case(
        "preset-unknown",
        pipe(COLOR).replace('path = "out.mp4"', 'path = "out.mp4"\npreset = "fastest"'),
        "unknown h264 preset 'fastest'; it takes ultrafast",
        node="out",
        option="preset",
    ),
]


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run(args, capfd) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capfd.readouterr()
    return code, out + err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_pipeline_is_refused_cleanly(case, tmp_path, capfd):
    path = tmp_path / "hostile.toml"
    path.write_bytes(case.text.encode("utf-8"))
    (tmp_path / "cues.srt").write_text(SRT)
    before = _snapshot(tmp_path)
    args = [case.command, *(["-q"] if case.command == "render" else []), path]
    for item in case.sets:
        args += ["--set", item]
    code, text = _run(args, capfd)
    assert code == case.rc, text[-2000:]
    assert case.fragment in text, text[-2000:]
    assert "Traceback" not in text and "internal error" not in text, text[-2000:]
    if case.rc == 2:
        (line,) = [ln for ln in text.splitlines() if case.fragment in ln][:1]
        assert line.startswith(f"error: {path}:" if case.line else f"error: {path}: "), line
        if case.node:
            assert f"node '{case.node}'" in line, line
        if case.option:
            assert f"option '{case.option}'" in line, line
        assert len(text) < 20_000  # a message, not the input echoed back
    assert _snapshot(tmp_path) == before


def test_own_input_gets_one_error(tmp_path, capfd):
    path = tmp_path / "p.toml"
    path.write_text(pipe(node("c", "effect.blur", input='"c"')))
    code, text = _run(["validate", path], capfd)
    assert code == 2 and text.count("error:") == 1, text


def test_all_problems_reported_together(tmp_path, capfd):
    path = tmp_path / "p.toml"
    path.write_text(
        pipe(
            COLOR
            + node("g", "effect.grade", input='"c"', exposure="nan", contrast='{ expr = "sin()" }')
            + node("s", "editor.speed", input='"g"', factor="inf"),
            src="s",
        )
    )
    code, text = _run(["validate", path], capfd)
    assert code == 2 and "3 problems found" in text, text


def test_size_and_frame_caps_can_be_raised(tmp_path, capfd, monkeypatch):
    path = tmp_path / "p.toml"
    path.write_text(pipe(node("c", "source.color", size="[20000, 16]", duration='"50000s"')))
    code, text = _run(["validate", path], capfd)
    assert code == 2 and "VFX_MAX_SIZE" in text and "VFX_MAX_FRAMES" in text, text
    monkeypatch.setenv("VFX_MAX_SIZE", "32768")
    monkeypatch.setenv("VFX_MAX_FRAMES", "1000000000")
    code, text = _run(["validate", path], capfd)
    assert code == 0, text


def test_ten_thousand_node_chain_validates(tmp_path, capfd):
    path = tmp_path / "chain.toml"
    path.write_text(chain(9_999, reverse=True))  # 10,000 nodes with the encoder: the limit
    before = _snapshot(tmp_path)
    code, text = _run(["validate", path], capfd)
    assert code == 0 and "ok: out" in text, text[-2000:]
    assert _snapshot(tmp_path) == before


def test_three_hundred_node_chain_renders(tmp_path, capfd):
    tables = [node("n0", "source.color", color='"#ff8800"')]
    for i in range(1, 300):
        kind = ("effect.fade", "editor.trim", "effect.grade")[i % 3]
        tables.append(node(f"n{i}", kind, input=f'"n{i - 1}"'))
    path = tmp_path / "chain.toml"
    path.write_text(
        HEAD.replace("width = 32\nheight = 32", "width = 16\nheight = 16")
        + "".join(tables)
        + '\n[nodes.out]\ntype = "encode.image_sequence"\ninput = "n299"\npath = "o/f_%04d.png"\n'
    )
    code, text = _run(["render", "-q", path], capfd)
    assert code == 0, text[-3000:]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["f_0000.png", "f_0001.png"]
    code, text = _run(["preview", path, "--frame", "1", "-o", tmp_path / "p.png"], capfd)
    assert code == 0 and (tmp_path / "p.png").stat().st_size > 0, text[-3000:]


def test_toml_nesting_is_measured_before_parsing():
    from vfx.pipeline import _bracket_depth

    text = "a = \"[[[[\" # [[[[\nb = '''\n[[[['''\nc = [[1], { d = \"\\\" [[[[\" }]\n[t]\n"
    assert _bracket_depth(text) == (2, 4)
    assert _bracket_depth("x = " + "[" * 40)[0] == 33  # stops counting past the limit
