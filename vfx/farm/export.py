"""Job descriptions for studio farm managers: Open Job Description, OpenCue and Deadline.

Every format describes the same three stages, each a plain ``vfx`` command on a worker that sees
the pipeline, its inputs and the segment folder at the same paths (shared storage):

1. render: one task per chunk, ``vfx farm chunk PIPELINE --segment-dir DIR --frames S-E``;
2. audio: one task, ``vfx farm audio PIPELINE --segment-dir DIR`` (only when an output has audio;
   Deadline's join renders it, see below);
3. join: one task after both, ``vfx farm join PIPELINE --segment-dir DIR``.

The manifest (the pipeline's content hash) is written into the segment folder now, so a task that
finds another version of the pipeline on the farm refuses to mix its segment in.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .manifest import SegmentDir, default_segment_dir
from .planning import plan_chunks
from .join import check_joinable
from .segments import Job, graph_needs_gpu, load_job

OPENJD_VERSION = "jobtemplate-2023-09"
OPENJD_MAX_LIST = 1024  # the most values a task parameter's list range may hold
OPENCUE_DTD = "http://localhost:8080/spcue/dtd/cjsl-1.14.dtd"
#: the files each format writes into the job folder
_FILES = {
    "openjd": ["job.template.yaml"],
    "opencue": ["job.xml"],
    "deadline": [
        "render_job_info.job",
        "render_plugin_info.job",
        "join_job_info.job",
        "join_plugin_info.job",
        "submit.sh",
    ],
}


def _vfx_executable() -> str:
    """The ``vfx`` script beside this Python (a venv's), else plain ``vfx`` on the PATH."""
    exe = Path(sys.executable).parent / "vfx"
    return str(exe) if exe.exists() else "vfx"


def _set_args(overrides) -> list[str]:
    out = []
    for o in overrides:
        out += ["--set", o]
    return out


def _name_token(text: str) -> str:
    """An XML NMTOKEN / farm-safe name: letters, digits, '_', '-', '.'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "vfx"


def export_job(
    pipeline: str,
    overrides: list[str],
    fmt: str,
    chunk_size: int,
    out_dir=None,
    segment_dir=None,
    vfx: str | None = None,
    name: str | None = None,
    retries: int = 3,
) -> list[Path]:
    """Write the job files for ``fmt`` (openjd, opencue or deadline) and return their paths."""
    from ..outputs import check

    job = Job(pipeline, overrides)
    loaded = load_job(job)
    try:
        outputs, frames, digest, protected = loaded.outputs, loaded.frames, loaded.hash, loaded.protected
        check_joinable(outputs, job.pipeline)  # fail now, not in the farm's join task
        needs_gpu = graph_needs_gpu(loaded.graph, "auto")
    finally:
        loaded.graph.close()
    pipeline_path = Path(job.pipeline)
    seg = SegmentDir(Path(segment_dir or default_segment_dir(outputs)).resolve())
    chunks = plan_chunks(frames, chunk_size)
    out_dir = Path(out_dir or pipeline_path.with_name(f"{pipeline_path.stem}.{fmt}")).resolve()
    check(out_dir, protected, where=f"{job.pipeline}: option '--output'", folder=True)
    owned = _exported(out_dir)
    for job_file in _FILES[fmt]:
        where = f"{job.pipeline}: option '--output'"
        check(out_dir / job_file, protected, where=where)
        if (out_dir / job_file).exists() and owned.get(job_file) != _digest(out_dir / job_file):
            from ..outputs import UnsafeOutput

            raise UnsafeOutput(
                f"{where}: {out_dir / job_file} was not written by vfx farm export (or was changed "
                "since); refusing to overwrite it: export into another folder with -o"
            )
    seg.check_usable(outputs, [c.name for c in chunks], protected=protected)
    manifest = seg.manifest()
    if manifest is not None and manifest.get("hash") != digest:
        seg.clear()
    seg.write_manifest(
        {
            "hash": digest,
            "pipeline": job.pipeline,
            "overrides": job.overrides,
            "frames": frames,
            "fps": str(loaded.fps),
            "chunk_size": chunk_size,
            "chunks": [c.to_json() for c in chunks],
            "outputs": outputs,
            "exported": fmt,
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = {
        "name": name or f"vfx {pipeline_path.stem}",
        "vfx": vfx or _vfx_executable(),
        "pipeline": str(pipeline_path),
        "segment_dir": str(seg.path),
        "sets": _set_args(job.overrides),
        "frames": frames,
        "chunk_size": chunk_size,
        "chunks": chunks,
        "audio": any(o["audio"] for o in outputs.values()),
        "gpu": needs_gpu,
        "retries": retries,
        "workdir": str(pipeline_path.parent),
        "outputs": [o["path"] for o in outputs.values()],
    }
    writer = {"openjd": _openjd, "opencue": _opencue, "deadline": _deadline}[fmt]
    written = writer(plan, out_dir)
    owned.update({p.name: _digest(p) for p in written})
    _write(out_dir / _RECORD, json.dumps(owned, indent=1, sort_keys=True))
    return written


#: what ``export_job`` wrote into an output folder (file name: SHA-256): only those it may replace
_RECORD = ".vfx-export.json"


def _exported(out_dir: Path) -> dict[str, str]:
    try:
        record = json.loads((out_dir / _RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(path: Path, text: str) -> Path:
    from ..util.atomic import write_text

    return write_text(path, text)


def _stage_args(plan, stage: str, frames_arg: str | None = None, pipeline="{pipeline}", segdir="{segment_dir}"):
    args = ["farm", stage, pipeline, "--segment-dir", segdir] + plan["sets"]
    if frames_arg is not None:
        args += ["--frames", frames_arg]
    return args


def _openjd(plan, out_dir: Path) -> list[Path]:
    import yaml

    params = "{{Param.Pipeline}}", "{{Param.SegmentDir}}"

    def action(stage, frames_arg=None):
        return {
            "actions": {"onRun": {"command": "{{Param.Vfx}}", "args": _stage_args(plan, stage, frames_arg, *params)}}
        }

    if len(plan["chunks"]) <= OPENJD_MAX_LIST:
        # each task gets its range "S-E" (format strings have no arithmetic to compute E from S)
        space = {"name": "Frames", "type": "STRING", "range": [f"{c.start}-{c.last}" for c in plan["chunks"]]}
        script = action("chunk", "{{Task.Param.Frames}}")
    else:
        # a list range holds at most 1024 values: an INT range of first frames, the chunk size on the command
        space = {"name": "ChunkStart", "type": "INT", "range": f"0-{plan['frames'] - 1}:{plan['chunk_size']}"}
        script = action("chunk", "{{Task.Param.ChunkStart}}")
        script["actions"]["onRun"]["args"] += ["--chunk-size", str(plan["chunk_size"])]
    render = {
        "name": "Render",
        "description": f"one task per chunk of {plan['chunk_size']} frames, each writing a segment",
        "parameterSpace": {"taskParameterDefinitions": [space]},
        "script": script,
    }
    if plan["gpu"]:
        render["hostRequirements"] = {"amounts": [{"name": "amount.worker.gpu", "min": 1}]}
    steps = [render]
    join_deps = [{"dependsOn": "Render"}]
    if plan["audio"]:
        steps.append(
            {
                "name": "Audio",
                "description": "the audio of the whole timeline, rendered once",
                "script": action("audio"),
            }
        )
        join_deps.append({"dependsOn": "Audio"})
    steps.append(
        {
            "name": "Join",
            "description": "join the segments (video copied, not re-encoded) and mux the audio",
            "dependencies": join_deps,
            "script": action("join"),
        }
    )
    # STRING, not PATH: a PATH parameter's default must lie inside the template's folder (OpenJD refuses
    # an absolute one, or one that walks up), and every worker sees these at the same absolute paths anyway
    template = {
        "specificationVersion": OPENJD_VERSION,
        "name": plan["name"],
        "description": f"vfx farm render of {plan['pipeline']} ({plan['frames']} frames) -> "
        + ", ".join(plan["outputs"]),
        "parameterDefinitions": [
            {
                "name": "Pipeline",
                "type": "STRING",
                "default": plan["pipeline"],
                "description": "the vfx pipeline (.toml), at the same absolute path on every worker",
            },
            {
                "name": "SegmentDir",
                "type": "STRING",
                "default": plan["segment_dir"],
                "description": "segment folder on storage every worker sees, at the same absolute path",
            },
            {"name": "Vfx", "type": "STRING", "default": plan["vfx"], "description": "the vfx command on workers"},
        ],
        "steps": steps,
    }
    path = out_dir / "job.template.yaml"
    _write(path, yaml.safe_dump(template, sort_keys=False, width=1000))
    return [path]


def _opencue(plan, out_dir: Path) -> list[Path]:
    import getpass

    job = _name_token(plan["name"])

    def cmd(stage, frames_arg=None):
        args = _stage_args(plan, stage, frames_arg, plan["pipeline"], plan["segment_dir"])
        # cuebot must see the #FRAME_START#-#FRAME_END# tokens bare; every other argument is quoted
        return " ".join([shlex.quote(plan["vfx"])] + [a if a == frames_arg else shlex.quote(a) for a in args])

    def layer(name, kind, command, rng, chunk, gpu=False):
        lines = [
            f'      <layer name={quoteattr(name)} type="{kind}">',
            f"        <cmd>{escape(command)}</cmd>",
            f"        <range>{rng}</range>",
            f"        <chunk>{chunk}</chunk>",
            "        <cores>1</cores>",
        ]
        if gpu:
            lines.append("        <gpus>1</gpus>")
        lines += ["        <services>", "          <service>shell</service>", "        </services>", "      </layer>"]
        return lines

    last = plan["frames"] - 1
    layers = layer(
        "render", "Render", cmd("chunk", "#FRAME_START#-#FRAME_END#"), f"0-{last}", plan["chunk_size"], plan["gpu"]
    )
    deps = [("join", "render")]
    if plan["audio"]:
        layers += layer("audio", "Util", cmd("audio"), "0", 1)
        deps.append(("join", "audio"))
    layers += layer("join", "Post", cmd("join"), "0", 1)
    try:
        user = getpass.getuser()
    except Exception:
        user = "vfx"
    xml = [
        '<?xml version="1.0"?>',
        f'<!DOCTYPE spec PUBLIC "SPI Cue Specification Language" "{OPENCUE_DTD}">',
        "<spec>",
        "  <facility>local</facility>",
        "  <show>vfx</show>",
        f"  <shot>{escape(_name_token(Path(plan['pipeline']).stem))}</shot>",
        f"  <user>{escape(_name_token(user))}</user>",
        f"  <job name={quoteattr(job)}>",
        "    <paused>False</paused>",
        f"    <maxretries>{plan['retries']}</maxretries>",
        "    <autoeat>False</autoeat>",
        "    <layers>",
        *layers,
        "    </layers>",
        "  </job>",
        "  <depends>",
    ]
    for dep_layer, on_layer in deps:
        xml += [
            '    <depend type="LAYER_ON_LAYER" anyframe="False">',
            f"      <depjob>{job}</depjob>",
            f"      <deplayer>{dep_layer}</deplayer>",
            f"      <onjob>{job}</onjob>",
            f"      <onlayer>{on_layer}</onlayer>",
            "    </depend>",
        ]
    xml += ["  </depends>", "</spec>", ""]
    path = out_dir / "job.xml"
    _write(path, "\n".join(xml))
    return [path]


def _deadline(plan, out_dir: Path) -> list[Path]:
    """Two CommandLine jobs, the join depending on the render (``-SubmitMultipleJobs -dependent``).

    Deadline's join task also renders the audio (``vfx farm join`` does when no audio task ran)."""

    def quote(a):
        return f'"{a}"' if (" " in a or not a) else a

    def arguments(stage, frames_arg=None):
        return " ".join(quote(a) for a in _stage_args(plan, stage, frames_arg, plan["pipeline"], plan["segment_dir"]))

    def kv(d):
        return "".join(f"{k}={v}\n" for k, v in d.items())

    batch = plan["name"]
    render_info = {
        "Plugin": "CommandLine",
        "Name": f"{batch} - render",
        "BatchName": batch,
        "Frames": f"0-{plan['frames'] - 1}",
        "ChunkSize": plan["chunk_size"],
        "FailureDetectionTaskErrors": plan["retries"] + 1,
        "Comment": "vfx farm chunk: one segment per task",
    }
    for i, o in enumerate(plan["outputs"]):
        render_info[f"OutputDirectory{i}"] = str(Path(o).parent)
    if plan["gpu"]:
        render_info["Group"] = "gpu"
    render_plugin = {
        "Executable": plan["vfx"],
        "Arguments": arguments("chunk", "<STARTFRAME>-<ENDFRAME>"),
        "StartupDirectory": plan["workdir"],
        "Shell": "default",
        "ShellExecute": "False",
    }
    join_info = {
        "Plugin": "CommandLine",
        "Name": f"{batch} - join",
        "BatchName": batch,
        "Frames": "0",
        "ChunkSize": 1,
        "Comment": "vfx farm join: audio once, then the segments joined without re-encoding video",
    }
    for i, o in enumerate(plan["outputs"]):
        join_info[f"OutputFilename{i}"] = Path(o).name
        join_info[f"OutputDirectory{i}"] = str(Path(o).parent)
    join_plugin = {
        "Executable": plan["vfx"],
        "Arguments": arguments("join"),
        "StartupDirectory": plan["workdir"],
        "Shell": "default",
        "ShellExecute": "False",
    }
    files = {
        "render_job_info.job": render_info,
        "render_plugin_info.job": render_plugin,
        "join_job_info.job": join_info,
        "join_plugin_info.job": join_plugin,
    }
    written = []
    for fname, data in files.items():
        _write(out_dir / fname, kv(data))
        written.append(out_dir / fname)
    submit = out_dir / "submit.sh"
    _write(
        submit,
        "#!/bin/sh\n# Submit the render job, then the join job depending on it.\n"
        'cd "$(dirname "$0")"\n'
        "deadlinecommand -SubmitMultipleJobs -dependent \\\n"
        "  -job render_job_info.job render_plugin_info.job \\\n"
        "  -job join_job_info.job join_plugin_info.job\n",
    )
    submit.chmod(0o755)
    written.append(submit)
    return written


def parse_deadline(path: Path) -> dict:
    """A Deadline .job file (key=value lines) as a dict: what the tests and tools read back."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path}: not key=value: {line!r}")
            out[key] = value
    return out


__all__ = ["export_job", "parse_deadline"]
