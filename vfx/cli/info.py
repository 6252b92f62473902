"""Commands that describe rather than render: ``graph``, ``nodes``, ``plugins``, ``probe``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import click

from . import cli
from .common import check_output, load_graph, pipeline_argument, set_option


@cli.command()
@pipeline_argument
@set_option
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="Also draw the graph to this PNG file."
)
def graph(pipeline, overrides, fmt, output):
    """Print the node graph of PIPELINE as Mermaid or DOT text (and draw it with -o)."""
    from .. import diagram

    g, _ = load_graph(pipeline, overrides, "cpu", allow_no_encoder=True)
    if output:
        check_output(output, "--output", graph=g, pipeline=pipeline)
    click.echo((diagram.to_mermaid if fmt == "mermaid" else diagram.to_dot)(g), nl=False)
    if output:
        from ..util.atomic import AtomicFile

        target = AtomicFile(Path(output).resolve())  # through a symlink, as preview writes
        try:
            diagram.to_png(g, target.temp)
            target.commit()
        except BaseException:
            target.discard()
            raise
        click.echo(f"wrote {output}", err=True)


def node_schema(cls) -> dict:
    """The JSON description of a node type (the same data the node reference is built from)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    return {
        "type": cls.type,
        "kind": cls.kind,
        "summary": doc.splitlines()[0] if doc else "",
        "doc": doc,
        "options": cls.Options.describe(),
    }


@cli.command()
@click.argument("type_name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable schemas.")
def nodes(type_name, as_json):
    """List node types, or describe TYPE_NAME's options."""
    from ..plugins import get_registry

    reg = get_registry()
    if type_name:
        if type_name not in reg.nodes:
            hint = reg.suggest(type_name)
            raise click.BadParameter(
                f"unknown node type '{type_name}'" + (f" (did you mean '{hint}'?)" if hint else ""),
                param_hint="TYPE_NAME",
            )
        schema = node_schema(reg.nodes[type_name])
        if as_json:
            click.echo(json.dumps(schema, indent=2, default=str))
            return
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        console = Console()
        console.print(f"[bold]{schema['type']}[/bold] ({schema['kind']}, from plugin '{reg.node_plugin[type_name]}')\n")
        console.print(escape(schema["doc"]) + "\n")
        table = Table("option", "type", "default", "range / choices", "animatable", "description")
        for o in schema["options"]:
            default = "(required)" if o["required"] else repr(o.get("default"))
            table.add_row(
                *(
                    escape(str(c))
                    for c in (
                        o["name"],
                        o["type"],
                        default,
                        o.get("constraints", ""),
                        "yes" if o.get("animatable") else "",
                        o["doc"],
                    )
                )
            )
        console.print(table)
        return
    schemas = [node_schema(reg.nodes[t]) for t in sorted(reg.nodes)]
    if as_json:
        click.echo(json.dumps(schemas, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("type", "kind", "plugin", "summary")
    for s in schemas:
        table.add_row(s["type"], s["kind"], reg.node_plugin[s["type"]], s["summary"])
    Console().print(table)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def plugins(as_json):
    """List loaded plugins and their node types, and plugins that failed to load."""
    from ..plugins import get_registry, plugin_infos

    infos = plugin_infos()
    failures = [{"name": f.name, "entry_point": f.value, "error": f.error} for f in get_registry().failures]
    if as_json:
        click.echo(json.dumps({"plugins": infos, "failed": failures}, indent=2))
        return
    for p in infos:
        pkg = f" ({p['package']} {p['version']})" if p["package"] else ""
        click.echo(f"{p['name']}{pkg}: {p['module']}")
        for t in p["nodes"]:
            click.echo(f"    {t}")
    for f in failures:
        where = f" ({f['entry_point']})" if f["entry_point"] else ""
        click.echo(f"FAILED {f['name']}{where}: {f['error']}")


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--encoders", is_flag=True, help="List the video encoders each backend offers here.")
@click.option("--json", "as_json", is_flag=True)
def probe(file, encoders, as_json):
    """Show what a media FILE holds (streams, size, fps, frames, audio), or --encoders."""
    if encoders:
        from ..plugins import get_registry

        data = {name: backend.available_encoders() for name, backend in get_registry().backends.items()}
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        for name, encs in data.items():
            click.echo(f"{name}: {len(encs)} video encoders")
            for enc in sorted(encs):
                click.echo(f"    {enc:<22} {encs[enc]}")
        return
    if not file:
        raise click.UsageError("give a FILE, or --encoders")
    from ..errors import MediaError
    from ..media.probing import probe as probe_file

    if not Path(file).is_file():
        raise MediaError(f"{file}: file not found")
    from ..media.exr import exr_header, is_exr

    if is_exr(Path(file)):  # OpenEXR: size, windows, compression and the layers ``layer =`` picks
        header = exr_header(Path(file))
        if as_json:
            click.echo(json.dumps(header.as_dict(), indent=2))
            return
        click.echo(header.summary())
        for layer in header.layers:
            click.echo(f"  layer {layer.describe()}")
        return
    info = probe_file(file).as_dict()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['path']}: {info['container']}, {info['duration']:.3f}s")
    if "video" in info:
        click.echo("  video: " + _describe_video(info["video"]))
    tracks = info.get("audio_tracks") or ([info["audio"]] if "audio" in info else [])
    for a in tracks:
        label = f"audio {a['track']}" if len(tracks) > 1 else "audio"
        lang = f" [{a['language']}]" if a.get("language") else ""
        click.echo(
            f"  {label}: {a['codec']} {a['sample_rate']} Hz, {a['channels']} ch, {a['duration']:.3f}s"
            f" from {a['start_time']:.3f}s{lang}"
        )


def _describe_video(v: dict) -> str:
    """One line for a probed video track: size, rate (nominal, and VFR), frames, time, geometry, tags."""
    from fractions import Fraction

    fps = Fraction(v["fps"])
    rate = f"{v['fps']} fps" + (f" ({float(fps):.3f})" if fps.denominator != 1 else "")
    if v.get("vfr"):
        rate += f", variable frame rate (average {float(Fraction(v['average_fps'])):.3f})"
    parts = [
        f"{v['codec']} {v['width']}x{v['height']} {v['pix_fmt']} @ {rate}",
        f"{v['frames']} frames, {v['duration']:.3f}s from {v['start_time']:.3f}s",
    ]
    if v.get("sar", "1") != "1":
        sar = Fraction(v["sar"])
        parts.append(f"SAR {sar.numerator}:{sar.denominator}")
    if v.get("rotation"):
        turn = {90: "90 degrees clockwise", 180: "180 degrees", 270: "90 degrees counter-clockwise"}.get(
            v["rotation"], f"{v['rotation']} degrees clockwise"
        )
        parts.append(f"turned {turn} for display" + (", mirrored" if v.get("mirrored") else ""))
    elif v.get("mirrored"):
        parts.append("mirrored for display")
    if v.get("field_order") not in (None, "progressive", "unknown"):
        parts.append(f"interlaced ({v['field_order']})")
    color = v.get("color") or {}
    if color:
        parts.append("colour " + ", ".join(f"{k} {val}" for k, val in color.items()))
    if v.get("alpha"):
        parts.append("alpha")
    return ", ".join(parts)
