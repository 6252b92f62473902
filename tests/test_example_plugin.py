"""The example third-party plugin (examples/vfx-example-plugin), installed with pip and used by a
fresh ``vfx`` process, exactly as a user would.

The package is built and installed with pip into a scratch folder (``pip install --target``) that
the subprocesses get on ``PYTHONPATH``; entry points there are found like any installed ones.
Nothing is installed into the test interpreter's environment, so tests running beside this one
(in this process or another) never see the extra plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SRC = ROOT / "examples" / "vfx-example-plugin"
_SCRIPT = Path(sys.executable).parent / "vfx"
VFX = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from vfx.cli import main; main()"]
LEVELS = 4  # the value the pipelines use
LEVEL_VALUES = np.array([round(k * 255 / (LEVELS - 1)) for k in range(LEVELS)])  # 0 85 170 255


def _run(args, env, cwd=None, check=True):
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def _env_with(*paths: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(p) for p in paths] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.pop("VFX_DEBUG", None)
    return env


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """An environment whose ``vfx`` sees the example plugin, installed by pip from a copy of its source."""
    work = tmp_path_factory.mktemp("example_plugin")
    src = work / "src"
    # Build from a copy so that setuptools' build/ and *.egg-info never land in the repository.
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "out", "__pycache__"))
    site = work / "site"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(src),
        ],
        env=dict(os.environ),
    )
    assert (site / "vfx_example" / "posterize.py").is_file()
    return _env_with(site)


def _pipeline(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


PIPELINE = f"""
format = 1
[pipeline]
width = 64
height = 64
fps = 24
duration = 6
seed = 3

[nodes.pattern]
type = "source.testpattern"
pattern = "gradient"
tone = 440

[nodes.poster]
type = "example.posterize"
input = "pattern"
levels = {LEVELS}

[nodes.raw]
type = "encode.video"
input = "pattern"
path = "raw.mkv"
codec = "ffv1"
audio_codec = "none"

[nodes.out]
type = "encode.video"
input = "poster"
path = "poster.mkv"
codec = "ffv1"
audio_codec = "pcm"
"""


def _decode(path: Path) -> tuple[np.ndarray, float]:
    """Every frame as (N, H, W, 3) uint8 RGB, and the audio duration in seconds (0 if none)."""
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    audio_seconds = 0.0
    with av.open(str(path)) as container:
        if container.streams.audio:
            stream = container.streams.audio[0]
            audio_seconds = sum(f.samples for f in container.decode(stream)) / stream.rate
    return frames, audio_seconds


def test_vfx_plugins_lists_the_installed_example(plugin_env):
    data = json.loads(_run(VFX + ["plugins", "--json"], plugin_env).stdout)
    example = next((p for p in data["plugins"] if p["name"] == "example"), None)
    assert example is not None, data
    assert example["package"] == "vfx-example-plugin"
    assert example["version"] == "0.1.0"
    assert example["module"] == "vfx_example.posterize"
    assert example["nodes"] == ["example.posterize"]
    assert data["failed"] == []
    # the built-ins are still there, loaded through the same path
    assert {"sources", "editors", "encoders"} <= {p["name"] for p in data["plugins"]}

    text = _run(VFX + ["plugins"], plugin_env).stdout
    assert "example (vfx-example-plugin 0.1.0): vfx_example.posterize" in text
    assert "    example.posterize" in text

    schema = json.loads(_run(VFX + ["nodes", "example.posterize", "--json"], plugin_env).stdout)
    assert schema["kind"] == "effect"
    options = {o["name"]: o for o in schema["options"]}
    assert options["input"]["required"] is True
    assert options["levels"]["default"] == 4 and options["levels"]["constraints"] == "2 .. 256"
    assert options["mix"]["constraints"] == "0.0 .. 1.0"
    # the Options extend vfx.Effect.Options, so the plugin's effect takes a mask like every effect
    assert options["mask"]["required"] is False


def test_the_example_plugins_command(plugin_env):
    # register_commands: the plugin's command is found by a fresh vfx process and listed in --help
    assert _run(VFX + ["posterize-levels", str(LEVELS)], plugin_env).stdout.split() == [str(v) for v in LEVEL_VALUES]
    assert "posterize-levels" in _run(VFX + ["--help"], plugin_env).stdout
    bad = _run(VFX + ["posterize-levels", "1"], plugin_env, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_render_through_the_example_plugin_posterizes(plugin_env, tmp_path):
    pipeline = _pipeline(tmp_path / "poster.toml", PIPELINE)
    assert "ok: out" in _run(VFX + ["validate", str(pipeline)], plugin_env).stdout
    _run(VFX + ["render", "-q", str(pipeline)], plugin_env)

    raw, _ = _decode(tmp_path / "raw.mkv")
    poster, audio_seconds = _decode(tmp_path / "poster.mkv")
    assert raw.shape == poster.shape == (6, 64, 64, 3)
    assert audio_seconds == pytest.approx(6 / 24, abs=1e-3)  # audio passed through the effect

    for c in range(3):
        # the gradient has many values per channel; the posterized output only the four levels
        assert len(np.unique(raw[..., c])) > 3 * LEVELS
        values = np.unique(poster[..., c])
        assert len(values) <= LEVELS, (c, values)
        assert np.abs(values[:, None] - LEVEL_VALUES[None]).min(axis=1).max() <= 1, (c, values)
    # and each pixel went to the level nearest its input (sRGB steps; an edge case may round either way)
    expected = LEVEL_VALUES[np.rint(raw.astype(np.float64) * (LEVELS - 1) / 255).astype(int)]
    off = np.abs(poster.astype(int) - expected) > 1
    assert off.mean() < 0.01, off.mean()


def test_example_plugin_errors_and_determinism(plugin_env, tmp_path):
    pipeline = _pipeline(tmp_path / "poster.toml", PIPELINE)
    # an option out of range is a bad pipeline: exit 2, the node and option named, no traceback
    bad = _run(VFX + ["validate", str(pipeline), "--set", "poster.levels=1"], plugin_env, check=False)
    assert bad.returncode == 2
    assert "node 'poster': option 'levels': must be at least 2, got 1" in bad.stderr
    assert "Traceback" not in bad.stderr

    # dither is seeded per frame: frames 3-5 rendered alone equal frames 3-5 of the whole render
    dither = ["--set", "poster.dither=0.8", "--set", "raw.path=raw_dither.mkv"]
    _run(VFX + ["render", "-q", str(pipeline), *dither, "--set", "out.path=whole.mkv"], plugin_env)
    _run(
        VFX
        + [
            "render",
            "-q",
            str(pipeline),
            *dither,
            "--set",
            "out.path=chunk.mkv",
            "--frames",
            "3-5",
            "--batch-size",
            "2",
        ],
        plugin_env,
    )
    whole, _ = _decode(tmp_path / "whole.mkv")
    chunk, _ = _decode(tmp_path / "chunk.mkv")
    assert whole.shape[0] == 6 and chunk.shape[0] == 3
    np.testing.assert_array_equal(whole[3:], chunk)
    assert not np.array_equal(whole[3], whole[4])  # the noise differs from frame to frame


def test_the_example_plugins_own_unit_tests_pass(plugin_env):
    # The package's tests (examples/vfx-example-plugin/tests) run against the installed copy, from
    # inside its folder so that its own pyproject.toml configures pytest.
    env = dict(plugin_env, PYTHONDONTWRITEBYTECODE="1")
    proc = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], env, cwd=PLUGIN_SRC, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_plugin_that_fails_to_import_is_reported(plugin_env, tmp_path):
    site = tmp_path / "broken_site"
    (site / "vfx_broken_example").mkdir(parents=True)
    (site / "vfx_broken_example" / "__init__.py").write_text("raise RuntimeError('boom at import')\n")
    info = site / "vfx_broken_example-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vfx-broken-example\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vfx]\nbroken = vfx_broken_example\n")
    env = dict(plugin_env)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])

    proc = _run(VFX + ["plugins"], env)  # still exits 0: one broken plugin stops nothing
    assert "FAILED broken (vfx_broken_example): RuntimeError: boom at import" in proc.stdout
    assert "example (vfx-example-plugin 0.1.0): vfx_example.posterize" in proc.stdout
    data = json.loads(_run(VFX + ["plugins", "--json"], env).stdout)
    assert data["failed"] == [
        {"name": "broken", "entry_point": "vfx_broken_example", "error": "RuntimeError: boom at import"}
    ]


def test_every_hook_is_documented_in_the_plugin_guide():
    import inspect

    from vfx import hookspecs

    guide = (ROOT / "docs" / "writing-plugins.md").read_text(encoding="utf-8")
    hooks = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "vfx_spec")]
    assert hooks, "no hookspecs found"
    missing = [name for name in hooks if f"`{name}(" not in guide]
    assert not missing, f"hooks not described in docs/writing-plugins.md: {missing}"


def _guide():
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import test_docs
    finally:
        sys.path.pop(0)
    return test_docs, (ROOT / "docs" / "writing-plugins.md").read_text(encoding="utf-8")


def _plugin_listing(lines) -> dict[str, list[str]]:
    """``vfx plugins`` text as {plugin header: its node lines}."""
    out: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("    "):
            out[list(out)[-1]].append(line.strip())
        elif line and not line.startswith("$"):
            out[line] = []
    return out


def test_the_guides_vfx_plugins_output_is_what_vfx_prints(plugin_env):
    # every plugin the guide shows, in the order vfx lists them (the nine built-ins, then the
    # example), each with node types it really has; "..." stands for the rest of a plugin's types
    _, guide = _guide()
    start = guide.index("$ vfx plugins\n")
    shown = _plugin_listing(guide[start : guide.index("$ vfx nodes example.posterize", start)].splitlines()[1:])
    actual = _plugin_listing(_run(VFX + ["plugins"], plugin_env).stdout.splitlines())
    assert list(shown) == list(actual)
    for header, nodes in shown.items():
        if "..." in nodes:
            assert set(nodes) - {"..."} <= set(actual[header]), header
        else:
            assert nodes == actual[header], header
    # and the option table there lists the options vfx has
    schema = json.loads(_run(VFX + ["nodes", "example.posterize", "--json"], plugin_env).stdout)
    table = guide[guide.index("$ vfx nodes example.posterize") : guide.index("$ vfx posterize-levels")]
    rows = [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")]
    assert rows == [o["name"] for o in schema["options"]]


def test_the_guides_pipeline_renders_with_the_example_plugin(plugin_env, tmp_path):
    test_docs, guide = _guide()
    pipeline = tmp_path / "example.toml"
    pipeline.write_text(test_docs.guide_block_after(guide, "The example pipeline,", "toml"), encoding="utf-8")
    assert "ok: out -> " in _run(VFX + ["validate", str(pipeline)], plugin_env).stdout
    # a few frames either side of the cut from the bars to the gradient (frame 50)
    _run(VFX + ["render", "-q", str(pipeline), "--frames", "47-52"], plugin_env)
    with av.open(str(tmp_path / "out" / "posterized.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert container.streams.audio
    assert len(frames) == 6 and frames[0].shape == (360, 640, 3)
