"""OpenColorIO colour management: configs, processors built once, applied to whole batches.

A pipeline's ``[color]`` table (``ColorSettings``) names an OCIO config -- by default one built
into the OCIO library, ``studio-config-latest`` (the ACES studio config), so nothing is read
from disk or the network -- and a working space. Without a ``[color]`` table nothing here runs
and the graph keeps its own model: linear Rec.709 primaries, sRGB / BT.709 curves at the media
boundary (``vfx.ops.color``). That model is the colour space ``lin_rec709`` of the ACES configs,
which is therefore the default source and destination of ``effect.ocio`` without a table.

``ColorTransform`` wraps one OCIO CPU processor and applies it to (N, 4, H, W) premultiplied
linear float32 tensors: colour is unpremultiplied around transforms that are not linear (when
any alpha is below 1), alpha passes through. Tensors on a GPU are converted on the CPU and sent
back (OCIO's GPU shader path is not used). A frame is split into row bands over torch's
intra-op thread count (the engine's thread budget). PyOpenColorIO is imported only when a
transform is built.
"""

from __future__ import annotations

import difflib
import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import VfxError

if TYPE_CHECKING:
    from torch import Tensor

#: the config a ``[color]`` table uses unless it names one (built into the OCIO library)
DEFAULT_CONFIG = "studio-config-latest"
#: the graph's colour space without a ``[color]`` table (linear light, Rec.709 primaries)
GRAPH_SPACE = "lin_rec709"
#: the working space of a ``[color]`` table that names none
DEFAULT_WORKING_SPACE = "ACEScg"


class ColorError(VfxError, ValueError):
    """A colour setting OCIO cannot use: an unknown config, colour space, display, view or look."""

    exit_code = 2


@dataclass(frozen=True)
class ColorSettings:
    """The ``[color]`` table: the OCIO config (a built-in name, ``ocio://`` URI or .ocio file)
    and the working space the graph's pixels are in."""

    config: str = DEFAULT_CONFIG
    working_space: str = DEFAULT_WORKING_SPACE


def color_settings(settings: Any) -> ColorSettings | None:
    """The pipeline's ``ColorSettings`` (``settings.color``), or None without a ``[color]`` table."""
    return getattr(settings, "color", None)


def _ocio() -> Any:
    try:
        import PyOpenColorIO
    except ImportError as exc:  # pragma: no cover - a dependency of vfx
        raise ColorError(f"colour management needs the opencolorio package ({exc})") from None
    return PyOpenColorIO


_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _load_config(name: str) -> Any:
    ocio = _ocio()
    try:
        if name.endswith(".ocio") or name.endswith(".ocioz") or "/" in name:
            return ocio.Config.CreateFromFile(name)
        return ocio.Config.CreateFromBuiltinConfig(name)
    except Exception as exc:
        builtin = [row[0] for row in ocio.BuiltinConfigRegistry().getBuiltinConfigs()]
        raise ColorError(
            f"cannot load the OCIO config {name!r} ({exc}); name a config file or one of the built-in "
            f"configs: studio-config-latest, cg-config-latest, {', '.join(builtin)}"
        ) from None


def load_config(name: str | None = None) -> Any:
    """The OCIO config ``name`` (a built-in name, ``ocio://`` URI or file; default
    ``DEFAULT_CONFIG``), loaded once per process."""
    with _lock:
        return _load_config(str(name or DEFAULT_CONFIG))


def _suggest(name: str, known: list[str]) -> str:
    hint = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def colorspace_name(config: Any, name: str) -> str:
    """The colour space (or role) ``name`` of ``config`` by its full name, or ``ColorError``."""
    cs = config.getColorSpace(name)
    if cs is None:
        known = list(config.getColorSpaceNames())
        raise ColorError(f"the OCIO config has no colour space or role {name!r}{_suggest(name, known)}")
    return cs.getName()


def check_display_view(config: Any, display: str, view: str) -> None:
    """``ColorError`` unless ``config`` has ``display`` and that display has ``view``."""
    displays = list(config.getDisplays())
    if display not in displays:
        raise ColorError(
            f"the OCIO config has no display {display!r}{_suggest(display, displays)}; its displays: "
            + ", ".join(displays)
        )
    views = list(config.getViews(display))
    if view not in views:
        raise ColorError(
            f"display {display!r} has no view {view!r}{_suggest(view, views)}; its views: " + ", ".join(views)
        )


class ColorTransform:
    """One OCIO transform, its CPU processor built once, applied to whole batches."""

    def __init__(self, config: Any, transform: Any, description: str):
        ocio = _ocio()
        try:
            processor = config.getProcessor(transform)
            self._cpu = processor.getOptimizedCPUProcessor(
                ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_DEFAULT
            )
        except Exception as exc:
            raise ColorError(f"OCIO cannot build the transform {description}: {exc}") from None
        self.description = description
        self.is_noop = bool(self._cpu.isNoOp())
        #: a matrix (or nothing): premultiplied colour may pass through it as it is
        self.linear = self.is_noop or bool(processor.isNoOp()) or _is_matrix_only(processor)

    def apply_rgba(self, frames: np.ndarray) -> np.ndarray:
        """Apply in place to straight (N, H, W, 4) or (H, W, 4) float32 RGBA (C-contiguous); alpha unchanged."""
        if not self.is_noop:
            for frame in frames if frames.ndim == 4 else frames[None]:
                self._cpu.applyRGBA(frame)
        return frames

    def apply(self, pixels: Tensor) -> Tensor:
        """The (N, 4, H, W) premultiplied linear ``pixels`` transformed: a new channels-last tensor."""
        from ..frames import empty_pixels

        device = pixels.device
        n, _, h, w = pixels.shape
        out = empty_pixels(n, h, w)
        out.copy_(pixels)
        if self.is_noop:
            return out if device.type == "cpu" else out.to(device)
        nhwc = out.permute(0, 2, 3, 1).numpy()
        for k in range(n):
            frame = nhwc[k]
            alpha = frame[..., 3].copy()
            partial = not self.linear and bool((alpha < 1.0).any())
            if partial:  # straight colour through the curve; whole-pixel multiplies (contiguous)
                inverse = np.divide(1.0, alpha, out=np.zeros_like(alpha), where=alpha > 1e-6)
                frame *= inverse[..., None]
            self._run(frame)
            if partial:
                frame *= alpha[..., None]
                frame[..., 3] = alpha
        return out if device.type == "cpu" else out.to(device)

    def _run(self, frame: np.ndarray) -> None:
        """The processor over one (H, W, 4) frame, in row bands on the intra-op thread budget
        (torch's thread count, which ``vfx.engine.configure_threads`` sets; OCIO releases the GIL)."""
        import torch

        workers = torch.get_num_threads()
        h = frame.shape[0]
        if workers <= 1 or h < 64:
            self._cpu.applyRGBA(frame)
            return
        step = -(-h // workers)
        bands = [frame[y : y + step] for y in range(0, h, step)]
        list(_pool(workers).map(self._cpu.applyRGBA, bands))

    def apply_values(self, rgb: Any) -> np.ndarray:
        """The transform of (..., 3) straight RGB values (float64 in, float32 precision)."""
        arr = np.asarray(rgb, np.float32)
        flat = np.ascontiguousarray(arr.reshape(-1, 3))
        rgba = np.concatenate([flat, np.ones((len(flat), 1), np.float32)], axis=1).reshape(1, -1, 4)
        rgba = np.ascontiguousarray(rgba)
        self.apply_rgba(rgba)
        return rgba[0, :, :3].reshape(arr.shape)

    def __repr__(self) -> str:
        return f"<ColorTransform {self.description}>"


@functools.lru_cache(maxsize=4)
def _pool(workers: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vfx-ocio")


def _is_matrix_only(processor: Any) -> bool:
    ocio = _ocio()
    try:
        group = processor.createGroupTransform()
        return all(t.getTransformType() == ocio.TRANSFORM_TYPE_MATRIX for t in group)
    except Exception:
        return False


def _direction(inverse: bool) -> Any:
    ocio = _ocio()
    return ocio.TRANSFORM_DIR_INVERSE if inverse else ocio.TRANSFORM_DIR_FORWARD


def colorspace_transform(config: Any, src: str, dst: str) -> ColorTransform:
    """``src`` to ``dst`` (colour spaces or roles of ``config``)."""
    ocio = _ocio()
    a, b = colorspace_name(config, src), colorspace_name(config, dst)
    return ColorTransform(config, ocio.ColorSpaceTransform(src=a, dst=b), f"{a} -> {b}")


def display_view_transform(config: Any, src: str, display: str, view: str, *, inverse: bool = False) -> ColorTransform:
    """``src`` through ``display`` / ``view`` to the display's code values (or back with ``inverse``)."""
    ocio = _ocio()
    a = colorspace_name(config, src)
    check_display_view(config, display, view)
    t = ocio.DisplayViewTransform(src=a, display=display, view=view, direction=_direction(inverse))
    return ColorTransform(config, t, f"{a} -> {display} / {view}" + (" (inverse)" if inverse else ""))


def look_transform(config: Any, src: str, dst: str, looks: str, *, inverse: bool = False) -> ColorTransform:
    """The looks ``looks`` (OCIO look syntax, such as ``"+grade, -filmic"``) from ``src`` to ``dst``."""
    ocio = _ocio()
    a, b = colorspace_name(config, src), colorspace_name(config, dst)
    known = list(config.getLookNames())
    for name in [p.strip().lstrip("+-") for p in looks.split(",") if p.strip()]:
        if name not in known:
            raise ColorError(
                f"the OCIO config has no look {name!r}{_suggest(name, known)}; its looks: {', '.join(known) or 'none'}"
            )
    t = ocio.LookTransform(src=a, dst=b, looks=looks, direction=_direction(inverse))
    return ColorTransform(config, t, f"look {looks} ({a} -> {b})")


def cdl_transform(
    config: Any,
    slope: tuple[float, float, float] = (1.0, 1.0, 1.0),
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
    power: tuple[float, float, float] = (1.0, 1.0, 1.0),
    saturation: float = 1.0,
    *,
    inverse: bool = False,
) -> ColorTransform:
    """An ASC CDL (slope, offset, power, saturation), applied to the values as they are."""
    ocio = _ocio()
    t = ocio.CDLTransform(
        slope=list(slope), offset=list(offset), power=list(power), sat=float(saturation), direction=_direction(inverse)
    )
    return ColorTransform(config, t, f"CDL slope {slope} offset {offset} power {power} sat {saturation}")


def file_transform(
    config: Any, path: Path, *, cccid: str = "", interpolation: str = "best", inverse: bool = False
) -> ColorTransform:
    """A LUT or CDL file OCIO reads (.cube, .spi3d, .3dl, .clf, .cdl, .cc, .ccc, ...); ``cccid``
    picks a correction of a .ccc file."""
    ocio = _ocio()
    interp = {
        "best": ocio.INTERP_BEST,
        "linear": ocio.INTERP_LINEAR,
        "tetrahedral": ocio.INTERP_TETRAHEDRAL,
        "nearest": ocio.INTERP_NEAREST,
    }[interpolation]
    t = ocio.FileTransform(src=str(path), cccId=cccid, interpolation=interp, direction=_direction(inverse))
    return ColorTransform(config, t, f"file {Path(path).name}")


def working_space(settings: Any) -> tuple[Any, str]:
    """(config, working space name) of a pipeline: its ``[color]`` table's, or without one the
    default config and the graph's own space ``lin_rec709``."""
    color = color_settings(settings)
    if color is None:
        config = load_config(DEFAULT_CONFIG)
        return config, colorspace_name(config, GRAPH_SPACE)
    config = load_config(color.config)
    return config, colorspace_name(config, color.working_space)


def source_transform(settings: Any, color_space: str | None, *, default_role: str) -> ColorTransform | None:
    """What a source applies to bring its pixels from ``color_space`` (default: ``default_role``)
    into the working space: None without a ``[color]`` table (or when they are the same space).

    A ``color_space`` without a ``[color]`` table is an error (there is no space to convert into).
    """
    if color_settings(settings) is None:
        if color_space is not None:
            raise ColorError("color_space needs a [color] table in the pipeline (the config and working space)")
        return None
    config, work = working_space(settings)
    src = colorspace_name(config, color_space or default_role)
    if src == work:
        return None
    return colorspace_transform(config, src, work)


def encoder_transform(
    settings: Any,
    color_space: str | None,
    *,
    default_role: str,
    display: str | None = None,
    view: str | None = None,
) -> ColorTransform | None:
    """What an encoder applies to take the working space to its output: ``color_space``, or the
    ``display`` / ``view`` pair; None without a ``[color]`` table or when nothing changes."""
    if color_settings(settings) is None:
        if color_space is not None or display is not None or view is not None:
            raise ColorError("an output colour space needs a [color] table in the pipeline")
        return None
    config, work = working_space(settings)
    if display is not None or view is not None:
        if display is None or view is None:
            raise ColorError("give both display and view")
        return display_view_transform(config, work, display, view)
    dst = colorspace_name(config, color_space or default_role)
    if dst == work:
        return None
    return colorspace_transform(config, work, dst)


__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_WORKING_SPACE",
    "GRAPH_SPACE",
    "ColorError",
    "ColorSettings",
    "ColorTransform",
    "cdl_transform",
    "check_display_view",
    "color_settings",
    "colorspace_name",
    "colorspace_transform",
    "display_view_transform",
    "encoder_transform",
    "file_transform",
    "load_config",
    "look_transform",
    "source_transform",
    "working_space",
]
