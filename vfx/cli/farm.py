"""``vfx farm``: render on a Ray cluster in chunks, join segments, and export farm-manager jobs.

Ray is imported only when ``vfx farm render`` runs; the other subcommands never import it.
"""

from __future__ import annotations

import sys
import time

import click

from . import cli
from .common import check_output, device_option, pipeline_argument, set_option
from .output import Progress
from .verify import sign_options


@cli.group()
def farm():
    """Render in frame-range chunks on a Ray cluster (or a studio farm manager).

    \b
      vfx farm render p.toml --chunk-size 48            local Ray, started and stopped here
      vfx farm render p.toml --address auto --resume    a running cluster; re-run missing chunks
      vfx farm export p.toml --format openjd -o job/    a job for OpenJD, OpenCue or Deadline
    """


@farm.command("render")
@pipeline_argument
@set_option
@device_option
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 10**7),
    default=48,
    show_default=True,
    help="Frames per chunk (one Ray task each).",
)
@click.option(
    "--address",
    default=None,
    metavar="local|auto|HOST:PORT",
    help="Ray to use: none or 'local' starts one here for this command; 'auto' or HOST:PORT "
    "connects to a running cluster.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 4096),
    default=None,
    help="CPUs of the local Ray (default: every core); ignored with --address auto or HOST:PORT.",
)
@click.option(
    "--cpus-per-task",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="CPUs each chunk asks Ray for (and torch threads it uses).",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 100),
    default=3,
    show_default=True,
    help="Attempts after the first when a chunk's worker dies.",
)
@click.option(
    "--gpu",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="auto: chunks whose graph needs a GPU (generators, --device cuda) ask Ray for one.",
)
@click.option(
    "--segment-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where segments go (default: a hidden folder beside the output). Shared storage on a cluster.",
)
@click.option("--resume", is_flag=True, help="Re-render only missing or incomplete segments.")
@click.option("--keep-segments", is_flag=True, help="Keep the segments after joining.")
@click.option(
    "--matrix",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="A CSV of variants: one output per row, its columns overriding [vars].",
)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=None)
@click.option(
    "--stats",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write timings as JSON: Ray start/stop, each chunk's setup/render/task time, the join.",
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where Ray's own messages go, appended (default: beside the segment folder, DIR.log).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="A node cache folder every chunk reads through and fills (workers of one machine share it; docs/cache.md).",
)
@click.option("--cache-size", metavar="SIZE", default=None, help="Bound of the --cache folder (default 20G).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@sign_options
def farm_render(
    pipeline,
    overrides,
    device,
    chunk_size,
    address,
    workers,
    cpus_per_task,
    retries,
    gpu,
    segment_dir,
    resume,
    keep_segments,
    matrix,
    batch_size,
    stats,
    log_file,
    cache_dir,
    cache_size,
    quiet,
    sign_cert,
    sign_key,
):
    """Render PIPELINE in chunks on Ray, then join the segments (video copied, not re-encoded)."""
    from pathlib import Path
    from ..errors import RenderError
    from ..farm.executor import FarmJob, FarmOptions, plan_job, run_farm
    from ..farm.segments import Job

    if cache_dir is not None or cache_size is not None:
        from .cache import open_cache

        if cache_dir is None:
            raise click.UsageError("--cache-size needs --cache")
        open_cache(cache_dir, cache_size, "auto", memory=False)  # a bad folder or size: exit 2 before Ray starts
    signers: dict = {}
    if sign_cert or sign_key:  # the joined files are signed before they move into place
        if matrix:
            raise click.UsageError("--sign signs one render: sign each variant with its own --set, not --matrix")
        from .common import load_graph
        from .verify import join_signers

        signed_graph, _ = load_graph(pipeline, overrides, "cpu")
        try:
            signers = join_signers(signed_graph, overrides, sign_cert, sign_key, quiet)
        finally:
            signed_graph.close()
    if stats or log_file:
        from .common import load_graph

        graph, _ = load_graph(pipeline, overrides, "cpu")
        graph.close()
        for path, option in ((stats, "--stats"), (log_file, "--log")):
            if path:
                check_output(path, option, graph=graph, pipeline=pipeline)
        _check_not_an_output(graph, pipeline, {"--stats": stats, "--log": log_file})
    opts = FarmOptions(
        chunk_size=chunk_size,
        address=address,
        workers=workers,
        cpus_per_task=cpus_per_task,
        retries=retries,
        gpu=gpu,
        resume=resume,
        keep_segments=keep_segments,
        log=Path(log_file) if log_file else None,
    )
    echo = (lambda m: None) if quiet else click.echo
    variants = None
    if matrix:
        if segment_dir:
            raise click.UsageError("--segment-dir names one folder; with --matrix each variant gets its own")
        from ..farm.variants import check_variants, read_matrix

        variants = read_matrix(matrix, pipeline)
        check_variants(pipeline, variants, overrides, matrix=matrix)
        jobs = []
        for v in variants:
            if v.error:
                continue
            fj = FarmJob(
                Job(
                    pipeline,
                    list(overrides) + v.overrides,
                    device=device,
                    batch_size=batch_size,
                    torch_threads=cpus_per_task,
                    cache=cache_dir,
                    cache_size=cache_size,
                ),
                label=v.label,
            )
            try:
                plan_job(fj, opts)
            except Exception as exc:
                v.error = str(exc)
                continue
            fj.variant = v
            jobs.append(fj)
    else:
        fj = FarmJob(
            Job(
                pipeline,
                list(overrides),
                device=device,
                batch_size=batch_size,
                torch_threads=cpus_per_task,
                cache=cache_dir,
                cache_size=cache_size,
            ),
            label=click.format_filename(pipeline),
            segment_dir=segment_dir,
        )
        jobs = [plan_job(fj, opts)]
        reused = len(fj.chunks) - len(fj.todo)
        if resume:
            echo(f"resume: {reused} of {len(fj.chunks)} segments are done; rendering {len(fj.todo)}")
    t0 = time.perf_counter()
    timings: dict = {}
    try:
        if jobs:  # every variant may have failed to plan: no Ray to start
            from ..farm.join import signing

            with signing(signers), Progress(quiet, kind="farm") as bar:
                timings = run_farm(jobs, opts, progress=bar, log=lambda m: click.echo(m, err=True))
    except KeyboardInterrupt:
        click.echo("interrupted: finished segments are kept; run the same command with --resume to go on", err=True)
        raise
    wall = time.perf_counter() - t0
    if stats:
        from ..farm.manifest import write_json

        write_json(
            Path(stats),
            {
                "wall": wall,
                **timings,
                "jobs": [
                    {
                        "label": j.label,
                        "error": j.error,
                        "frames": j.frames,
                        "chunks": len(j.chunks),
                        "rendered": [c.to_json() for c in j.rendered],
                        "records": j.records,
                        "seconds": j.seconds,
                        "outputs": [str(p) for p in j.written],
                    }
                    for j in jobs
                ],
            },
        )
    if variants is not None:
        for j in jobs:
            if j.error:
                j.variant.error = j.error
        _variant_summary(variants, {id(j.variant): j for j in jobs})
        if any(v.error for v in variants):
            sys.exit(1)
        return
    fj = jobs[0]
    if fj.error:
        ray_log = f"; Ray's own messages are in {timings['ray_log']}" if timings.get("ray_log") else ""
        raise RenderError(
            f"farm render of {pipeline} failed: {fj.error}. Finished segments are kept in "
            f"{fj.segment_dir}; fix the cause and run again with --resume{ray_log}"
        )
    if not quiet:
        for path in fj.written[:5]:
            click.echo(f"wrote {path}")
        if len(fj.written) > 5:
            click.echo(f"... and {len(fj.written) - 5} more files")
        frames = sum(c.frames for c in fj.rendered)
        click.echo(
            f"{len(fj.chunks)} chunks ({len(fj.rendered)} rendered, {len(fj.chunks) - len(fj.rendered)} "
            f"reused), {frames} frames in {wall:.2f}s ({frames / wall if wall else 0:.1f} fps); ray start "
            f"{timings.get('ray_start', 0):.2f}s, stop {timings.get('ray_stop', 0):.2f}s, join "
            f"{fj.seconds.get('join', 0):.2f}s" + (f", {timings['retries']} retried" if timings.get("retries") else "")
        )


def _check_not_an_output(graph, pipeline, files: dict) -> None:
    """Refuse (exit 2) a --stats or --log file that the render itself writes, or both naming one file."""
    from ..outputs import UnsafeOutput, resolved

    wanted = {resolved(path): option for option, path in files.items() if path}
    if len(wanted) < len([p for p in files.values() if p]):
        raise UnsafeOutput(f"{pipeline}: --stats and --log name one file; give each its own")
    folders: dict = {}
    for enc in graph.encoders:
        for out in enc.output_paths():
            folder = folders.get(out.parent)
            if folder is None:
                folder = folders[out.parent] = resolved(out.parent)
            option = wanted.get(folder / out.name)
            if option is not None:
                raise UnsafeOutput(
                    f"{pipeline}: option '{option}': {out} is an output of node '{enc.id}'; refusing to write over it"
                )


def _variant_summary(variants, jobs_by_variant=None) -> None:
    """One line per variant (ok with its output, or failed with its CSV line), then the totals."""
    ok = [v for v in variants if not v.error]
    bad = [v for v in variants if v.error]
    for v in variants:
        if v.error:
            click.echo(f"failed  {v.label} (line {v.line}): {v.error}")
        else:
            j = (jobs_by_variant or {}).get(id(v))
            files = [str(p) for p in j.written] if j is not None else v.outputs
            click.echo(f"ok      {v.label}: {', '.join(files[:1])}")
    click.echo(
        f"{len(ok)} of {len(variants)} variants rendered"
        + (f", {len(bad)} failed (rows {', '.join(str(v.row) for v in bad)})" if bad else "")
    )


def render_matrix(pipeline, overrides, matrix, options, quiet) -> None:
    """``vfx render TEMPLATE --matrix variants.csv`` (called by ``vfx render``)."""
    from ..farm.variants import check_variants, read_matrix, render_matrix_local

    variants = read_matrix(matrix, pipeline)
    check_variants(pipeline, variants, overrides, matrix=matrix)
    for v in variants:
        if v.error:
            click.echo(f"error: {v.label} (line {v.line}): {v.error}", err=True)
    render_matrix_local(
        pipeline, variants, overrides, options, lambda v: Progress(quiet=quiet), log=lambda m: click.echo(m, err=True)
    )
    _variant_summary(variants)
    if any(v.error for v in variants):
        sys.exit(1)


@farm.command("chunk")
@pipeline_argument
@set_option
@device_option
@click.option(
    "--frames",
    "frame_spec",
    required=True,
    metavar="START-END",
    help="The chunk's frames, inclusive (what a farm manager hands each task).",
)
@click.option("--segment-dir", type=click.Path(file_okay=False), required=True, help="The job's segment folder.")
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 10**7),
    default=None,
    help="With --frames START alone: the chunk is START .. START+N-1 (for managers that hand a task "
    "only its first frame).",
)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=None)
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="torch intra-op threads.")
def farm_chunk(pipeline, overrides, device, frame_spec, segment_dir, chunk_size, batch_size, threads):
    """Render frames START-END of PIPELINE as one segment (one farm-manager task). No Ray."""
    from ..farm.manifest import SegmentDir
    from ..farm.planning import Chunk
    from ..farm.segments import Job, load_job, render_segment
    from ..timing import parse_frame_range

    job = Job(pipeline, list(overrides), device=device, batch_size=batch_size, torch_threads=threads)
    loaded = load_job(job)
    loaded.graph.close()
    SegmentDir(segment_dir).check_usable({}, protected=loaded.protected)
    try:
        start, stop = parse_frame_range(frame_spec, loaded.fps, loaded.frames)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--frames") from None
    if chunk_size is not None:
        if stop - start != 1:
            raise click.UsageError("--chunk-size goes with --frames START (one frame), not a range")
        stop = min(start + chunk_size, loaded.frames)
    seg = SegmentDir(segment_dir)
    seg.check_hash(loaded.hash, "render this chunk")
    if seg.manifest() is None:
        seg.write_manifest(
            {
                "hash": loaded.hash,
                "pipeline": job.pipeline,
                "overrides": job.overrides,
                "frames": loaded.frames,
                "fps": str(loaded.fps),
                "outputs": loaded.outputs,
            }
        )
    t0 = time.perf_counter()
    rec = render_segment(job, Chunk(-1, start, stop), seg.path, loaded.hash)
    click.echo(
        f"segment frames {rec['start']}-{rec['stop'] - 1} written to {seg.path} in {time.perf_counter() - t0:.2f}s"
    )


@farm.command("audio")
@pipeline_argument
@set_option
@click.option("--segment-dir", type=click.Path(file_okay=False), required=True, help="The job's segment folder.")
def farm_audio(pipeline, overrides, segment_dir):
    """Render the audio of PIPELINE's whole timeline once, into the segment folder. No Ray."""
    from ..farm.manifest import SegmentDir
    from ..farm.segments import Job, load_job, render_audio

    job = Job(pipeline, list(overrides), device="cpu")
    loaded = load_job(job)
    loaded.graph.close()
    SegmentDir(segment_dir).check_hash(loaded.hash, "render the audio")
    recs = render_audio(job, segment_dir, loaded.hash)
    for enc_id, rec in recs.items():
        click.echo(f"audio of '{enc_id}': {rec['samples']} samples in {rec['seconds']:.2f}s")
    if not recs:
        click.echo("no output muxes audio")


@farm.command("join")
@pipeline_argument
@set_option
@click.option("--segment-dir", type=click.Path(file_okay=False), required=True, help="The job's segment folder.")
@click.option("--keep-segments", is_flag=True, help="Keep the segments after joining.")
@sign_options
def farm_join(pipeline, overrides, segment_dir, keep_segments, sign_cert, sign_key):
    """Join PIPELINE's segments into its outputs (renders the audio first if no task did). No Ray."""
    from ..farm.join import join_outputs, pick_cover, signing
    from ..farm.manifest import SegmentDir
    from ..farm.segments import Job, load_job, render_audio

    job = Job(pipeline, list(overrides), device="cpu")
    loaded = load_job(job)
    loaded.graph.close()
    from .verify import join_signers

    signers = join_signers(loaded.graph, overrides, sign_cert, sign_key)
    seg = SegmentDir(segment_dir)
    seg.check_usable(loaded.outputs, protected=loaded.protected)
    seg.check_hash(loaded.hash, "join")
    records = seg.done_segments(loaded.hash)
    for enc_id, out in loaded.outputs.items():  # every frame has a segment, before any audio is rendered
        pick_cover(records, out["frames"], enc_id)
    if any(o["audio"] and seg.audio_done(e, loaded.hash) is None for e, o in loaded.outputs.items()):
        render_audio(job, seg.path, loaded.hash)
    with signing(signers):
        written = join_outputs(seg, loaded.outputs, loaded.hash, loaded.fps, keep_segments=keep_segments)
    for path in written[:5]:
        click.echo(f"wrote {path}")
    if len(written) > 5:
        click.echo(f"... and {len(written) - 5} more files")
    if not keep_segments:
        seg.remove()


@farm.command("export")
@pipeline_argument
@set_option
@click.option("--format", "fmt", type=click.Choice(["openjd", "opencue", "deadline"]), required=True)
@click.option("--chunk-size", type=click.IntRange(1, 10**7), default=48, show_default=True)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for the job files (default: <pipeline>.<format>/ beside the pipeline).",
)
@click.option(
    "--segment-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="The segment folder the tasks share (default: a hidden folder beside the output).",
)
@click.option("--vfx", "vfx_exe", default=None, help="The vfx command on the farm's workers (default: this one).")
@click.option("--name", default=None, help="Job name (default: the pipeline's name).")
def farm_export(pipeline, overrides, fmt, chunk_size, out_dir, segment_dir, vfx_exe, name):
    """Write a job description for a studio farm manager: chunks, audio and a join step."""
    from ..farm.export import export_job

    files = export_job(
        pipeline, list(overrides), fmt, chunk_size, out_dir=out_dir, segment_dir=segment_dir, vfx=vfx_exe, name=name
    )
    for path in files:
        click.echo(f"wrote {path}")
