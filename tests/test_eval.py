"""``vfx eval`` and vfx.evaluate: PSNR/SSIM against scikit-image on lossless media, temporal
consistency, JSON, errors, and the sliced Wasserstein distance."""

from __future__ import annotations

import json
import math

import av
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from conftest import decode_frames, run_vfx
from vfx.evaluate import EvalError, compare, open_input, swd
from vfx.media.encode import write_png

W, H, N = 48, 40, 5


def base_frames(n=N, static=False) -> list[np.ndarray]:
    """Smooth moving colour gradients with some texture (uint8 RGB)."""
    rng = np.random.default_rng(1)
    tex = rng.integers(0, 40, (H, W, 3))
    y, x = np.mgrid[0:H, 0:W]
    out = []
    for i in range(n):
        t = 0 if static else i
        img = np.stack([(x * 4 + t * 9) % 256, (y * 5 + t * 3) % 256, (x + y + 40) % 256], -1) * 0.8 + np.roll(
            tex, 3 * t, axis=1
        )
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def write_seq(folder, frames, name="f_%04d.png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        write_png(folder / (name % i), f)
    return folder / name


def write_ffv1(path, frames):
    """Lossless RGB video (ffv1 in bgr0): decoded pixels are exactly ``frames``."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "bgr0"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="bgr0")
            vf.pts = i
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def distortions(frames):
    rng = np.random.default_rng(7)
    noisy = [np.clip(f + rng.normal(0, 8, f.shape), 0, 255).astype(np.uint8) for f in frames]
    blurred = [
        np.clip(gaussian_filter(f.astype(float), sigma=(1.2, 1.2, 0)) + 0.5, 0, 255).astype(np.uint8) for f in frames
    ]
    brighter = [np.clip(f.astype(int) + 12, 0, 255).astype(np.uint8) for f in frames]
    return {"noise": noisy, "blur": blurred, "brightness": brighter}


def test_identical_inputs_inf_psnr_ssim_one(tmp_path):
    frames = base_frames()
    a = write_seq(tmp_path / "a", frames)
    r = compare(a, tmp_path / "a")  # a pattern and a folder of the same frames
    assert len(r.frames) == N
    assert all(math.isinf(f.psnr) and f.ssim == 1.0 for f in r.frames)
    assert math.isinf(r.psnr_mean) and math.isinf(r.psnr_pooled) and r.ssim_mean == 1.0
    assert r.as_dict()["psnr"]["mean"] == "inf"


@pytest.mark.parametrize("kind", ["noise", "blur", "brightness"])
def test_distortions_match_scikit_image(tmp_path, kind):
    frames = base_frames()
    bad = distortions(frames)[kind]
    a = write_ffv1(tmp_path / "a.mkv", frames)
    b = write_seq(tmp_path / "b", bad)
    dec_a = decode_frames(a)
    assert all((x == y).all() for x, y in zip(dec_a, frames))  # lossless: we compare what we wrote
    r = compare(a, b)
    want_psnr = [peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(frames, bad)]
    want_ssim = [structural_similarity(x, y, channel_axis=2, data_range=255) for x, y in zip(frames, bad)]
    assert [f.psnr for f in r.frames] == want_psnr
    assert [f.ssim for f in r.frames] == want_ssim
    assert r.psnr_mean == pytest.approx(np.mean(want_psnr), rel=1e-12)
    assert r.ssim_mean == pytest.approx(np.mean(want_ssim), rel=1e-12)
    assert r.worst_psnr.index == int(np.argmin(want_psnr)) and r.worst_psnr.psnr == min(want_psnr)
    assert r.worst_ssim.index == int(np.argmin(want_ssim))
    mse = np.mean([np.mean((x.astype(float) - y) ** 2) for x, y in zip(frames, bad)])
    assert r.psnr_pooled == pytest.approx(10 * math.log10(255**2 / mse))
    # each input's temporal consistency is the mean SSIM of its consecutive frames
    want_t = np.mean([structural_similarity(x, y, channel_axis=2, data_range=255) for x, y in zip(bad, bad[1:])])
    assert r.temporal_b == pytest.approx(want_t, rel=1e-12)
    assert 0 < r.ssim_mean < 1 and 10 < r.psnr_mean < 60


def test_static_clip_temporal_consistency_is_one(tmp_path):
    still = write_ffv1(tmp_path / "still.mkv", base_frames(static=True))
    moving = write_seq(tmp_path / "m", base_frames())
    r = compare(still, moving)
    assert r.temporal_a == 1.0
    assert r.temporal_b < 0.99


def test_cli_json_table_and_errors(tmp_path):
    frames = base_frames()
    a = write_seq(tmp_path / "a", frames)
    b = write_seq(tmp_path / "b", distortions(frames)["noise"])
    res = run_vfx("eval", a, b, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["frames"] == N and len(doc["per_frame"]) == N
    assert isinstance(doc["psnr"]["mean"], float) and 0 < doc["ssim"]["mean"] < 1
    res = run_vfx("eval", a, a)
    assert res.returncode == 0 and "inf" in res.stdout and "PSNR" in res.stdout
    # a missing input: exit 2, named, no traceback
    res = run_vfx("eval", a, tmp_path / "missing.mp4")
    assert res.returncode == 2 and "missing.mp4" in res.stderr and "Traceback" not in res.stderr
    # different lengths: exit 2 unless --prefix, which warns and compares the common frames
    short = write_seq(tmp_path / "short", frames[:3])
    res = run_vfx("eval", a, short, "--json")
    assert res.returncode == 2 and "--prefix" in res.stderr
    res = run_vfx("eval", a, short, "--json", "--prefix")
    assert res.returncode == 0 and json.loads(res.stdout)["frames"] == 3 and "warning" in res.stderr


def test_size_mismatch_and_bad_inputs(tmp_path):
    a = write_seq(tmp_path / "a", base_frames(2))
    b = write_seq(tmp_path / "b", [np.zeros((H, W + 2, 3), np.uint8)] * 2)
    with pytest.raises(EvalError, match="sizes differ"):
        compare(a, b)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalError, match="no images"):
        open_input(tmp_path / "empty")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(EvalError, match="junk.mp4"):
        open_input(tmp_path / "junk.mp4")
    with pytest.raises(EvalError, match="no file matches"):
        open_input(tmp_path / "a" / "g_%03d.png")


def _blobs(n, seed, shift=0):
    """Random soft blobs on dark backgrounds, 32x32."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32]
    out = np.zeros((n, 32, 32, 3))
    for i in range(n):
        for _ in range(3):
            cy, cx, r = rng.uniform(4, 28), rng.uniform(4, 28), rng.uniform(2, 6)
            out[i] += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))[..., None] * rng.uniform(80, 200, 3)
    return np.clip(out + shift, 0, 255).astype(np.uint8)


def test_swd_identical_small_shifted_large():
    real, other = _blobs(32, 0), _blobs(32, 1)
    same = swd(real, real).mean
    floor = swd(real, other, seed=3)
    brighter = swd(real, _blobs(32, 1, shift=40)).mean
    noise = swd(real, np.random.default_rng(2).integers(0, 256, real.shape, dtype=np.uint8)).mean
    assert set(floor.levels) == {32, 16}
    assert same < floor.mean * 1.5  # the same set: only patch sampling noise
    assert brighter > 3 * floor.mean
    assert noise > brighter
    assert swd(real, other, seed=3).mean == floor.mean  # deterministic
    with pytest.raises(EvalError):
        swd(real, _blobs(4, 0)[:, :16])


def test_cli_swd(tmp_path):
    a = write_seq(tmp_path / "a", list(_blobs(8, 0)))
    b = write_seq(tmp_path / "b", list(_blobs(8, 0, shift=60)))
    res = run_vfx("eval", "--swd", "--json", a, b)  # printf patterns
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)["swd"]
    assert doc["mean"] > 0 and doc["images"] == [8, 8]
