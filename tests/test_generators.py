"""generator.gan / generator.vae: determinism, random access, batching, sizes, VAE modes, classes, errors.

Models are real ``vfx.models`` files built here (untrained, tiny), plus one tiny VAE trained for a
few seconds for the reconstruction-quality check.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vfx.engine import RenderOptions, render
from vfx.graph import build
from vfx.models import build_model, load_model, save_model
from vfx.pipeline import load

from conftest import TensorClip, decode_frames, make_node, run_vfx, write_pipeline

import vfx_plugins.generators.generators as gen
from vfx.ops.color import srgb_decode, srgb_encode


def _decode(x):
    return srgb_decode(x.clamp(0.0, 1.0))


def _encode(x):
    return srgb_encode(x.clamp(0.0, 1.0))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Untrained model files: a GAN, a conditional GAN, a VAE and a conditional VAE (16x16 or 32x32)."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(1)
    specs = {
        "gan": {"architecture": "dcgan_sn", "resolution": 32, "latent_dim": 16, "channels": 16},
        "cgan": {
            "architecture": "dcgan_sn",
            "resolution": 32,
            "latent_dim": 16,
            "channels": 16,
            "class_names": ["fire", "smoke", "ice"],
        },
        "vae": {"architecture": "conv_vae", "resolution": 16, "latent_dim": 8, "channels": 16},
        "cvae": {
            "architecture": "conv_vae",
            "resolution": 16,
            "latent_dim": 8,
            "channels": 16,
            "class_names": ["a", "b"],
        },
    }
    paths = {}
    for name, cfg in specs.items():
        model = build_model(cfg)
        if cfg["architecture"] == "dcgan_sn":
            # fresh batch-norm statistics make an untrained DCGAN almost constant: give it some
            with torch.no_grad():
                for m in model.modules():
                    if isinstance(m, torch.nn.BatchNorm2d):
                        m.running_var.fill_(0.05)
        paths[name] = save_model(model, folder / f"{name}.safetensors")
    return paths


def pipeline(folder, nodes: str, seed: int = 3, size=(96, 54), duration: int = 12, name="p.toml", out="o.mkv"):
    body = f"""
format = 1
[pipeline]
width = {size[0]}
height = {size[1]}
fps = 24
duration = {duration}
seed = {seed}
{nodes}
[nodes.out]
type = "encode.video"
input = "gen"
codec = "ffv1"
path = "{out}"
"""
    return write_pipeline(folder, body, name=name)


def graph(folder, nodes, **kw):
    return build(load(pipeline(folder, nodes, **kw)))


def gan_node(model, extra=""):
    return f'[nodes.gen]\ntype = "generator.gan"\nmodel = "{model}"\nperiod = 6\n{extra}\n'


# ------------------------------------------------------------------------------------ walk


def test_same_seed_same_frames_other_seed_differs(tmp_path, models):
    frames = [0, 3, 7, 11]
    a = graph(tmp_path, gan_node(models["gan"])).nodes["gen"].frames(frames).pixels
    b = graph(tmp_path, gan_node(models["gan"])).nodes["gen"].frames(frames).pixels
    c = graph(tmp_path, gan_node(models["gan"]), seed=4).nodes["gen"].frames(frames).pixels
    assert torch.equal(a, b)
    assert (a - c).abs().mean() > 1e-3
    # and the picture moves along the walk
    assert (a[0] - a[2]).abs().mean() > 1e-3


def test_output_size_alpha_and_layout(tmp_path, models):
    node = graph(tmp_path, gan_node(models["gan"])).nodes["gen"]
    assert (node.video.width, node.video.height, node.video.frame_count) == (96, 54, 12)
    assert not node.video.has_alpha
    px = node.frames([0, 1, 2]).pixels
    assert px.shape == (3, 4, 54, 96) and px.dtype == torch.float32
    assert px.is_contiguous(memory_format=torch.channels_last)
    assert (px[:, 3] == 1).all() and px[:, :3].min() >= 0 and px[:, :3].max() <= 1
    assert px[:, :3].std() > 0.01  # a picture, not a flat colour
    # the size option; fit = "fit" letterboxes with transparent bars
    node = graph(tmp_path, gan_node(models["gan"], 'size = [80, 40]\nfit = "fit"\nduration = 5')).nodes["gen"]
    assert (node.video.width, node.video.height, node.video.frame_count) == (80, 40, 5) and node.video.has_alpha
    px = node.frames([0]).pixels
    assert px.shape == (1, 4, 40, 80)
    assert (px[0, :, :, :20] == 0).all() and (px[0, :, :, 60:] == 0).all()
    assert (px[0, 3, :, 20:60] == 1).all()
    # stretch and fill show different parts of the same picture
    st = graph(tmp_path, gan_node(models["gan"], 'fit = "stretch"')).nodes["gen"].frames([0]).pixels
    fi = graph(tmp_path, gan_node(models["gan"])).nodes["gen"].frames([0]).pixels
    assert st.shape == fi.shape and (st - fi).abs().mean() > 1e-3


def test_fill_shows_the_middle_of_the_model_picture(tmp_path, models):
    """fill: the 32x32 picture is cropped to its middle 32x18 rows and scaled up 3x to 96x54."""
    node = graph(tmp_path, gan_node(models["gan"], 'filter = "bilinear"')).nodes["gen"]
    srgb = node.pictures([4])
    lin = _decode(srgb)[:, :, 7:25, :]
    want = torch.nn.functional.interpolate(lin, size=(54, 96), mode="bilinear", align_corners=False)
    got = node.frames([4]).pixels[:, :3]
    assert (got - want).abs().max() < 2e-3


def test_colours_survive_the_round_trip_to_8_bit_files(tmp_path, models):
    """At the model's own size the PNGs written hold the model's sRGB pictures (linear inside only)."""
    body = f"""
[pipeline]
width = 32
height = 32
duration = 3
seed = 5
{gan_node(models["gan"], 'fit = "stretch"')}
[nodes.out]
type = "encode.image_sequence"
input = "gen"
path = "png/f_%02d.png"
"""
    p = write_pipeline(tmp_path, body)
    render(build(load(p)), RenderOptions(device="cpu"))
    node = build(load(p)).nodes["gen"]
    model = load_model(models["gan"])
    with torch.no_grad():
        want = (model.generate(node.latents([0, 1, 2])) * 255).round().permute(0, 2, 3, 1).numpy()
    for i in range(3):
        got = decode_frames(tmp_path / "png" / f"f_{i:02d}.png")[0].astype(int)
        assert np.abs(got - want[i]).max() <= 1


def test_latent_walk_keyframes_slerp_speed(tmp_path, models):
    node = graph(tmp_path, gan_node(models["gan"], "truncation = 0.5")).nodes["gen"]
    z = node.latents(list(range(13)))
    # frames 0, 6, 12 sit exactly on keyframe latents 0, 1, 2 (period 6, speed 1), scaled by truncation
    for f, k in ((0, 0), (6, 1), (12, 2)):
        assert torch.allclose(z[f].double(), 0.5 * node.keyframe_latent(k), atol=1e-6)
    # keyframe latents are seeded by (seed, node id, k): the node's context generator
    g = node.ctx.generator(1, "latent")
    assert torch.equal(node.keyframe_latent(1), torch.randn(node.latent_dim, generator=g, dtype=torch.float64))
    # slerp keeps the norm of Gaussian latents (no dip half way, unlike a straight line)
    a, b = node.keyframe_latent(0), node.keyframe_latent(1)
    mid = gen.slerp(a[None], b[None], torch.tensor([0.5], dtype=torch.float64))[0]
    assert abs(mid.norm() - (a.norm() + b.norm()) / 2) < 1e-6 * a.norm() + 0.05 * a.norm()
    assert mid.norm() > (a + b).norm() / 2
    # steps between frames are small and even
    steps = (z[1:] - z[:-1]).norm(dim=1)
    assert steps.max() < 0.5 * (z[6] - z[0]).norm()
    # speed 0 holds the first keyframe; speed 2 reaches keyframe 2 at frame 6; animated speed integrates
    still = graph(tmp_path, gan_node(models["gan"], "speed = 0")).nodes["gen"]
    zs = still.latents([0, 5, 11])
    assert torch.equal(zs[0], zs[1]) and torch.equal(zs[0], zs[2])
    fast = graph(tmp_path, gan_node(models["gan"], "speed = 2")).nodes["gen"]
    assert torch.allclose(fast.latents([6])[0].double(), fast.keyframe_latent(2), atol=1e-6)
    ramp = graph(tmp_path, gan_node(models["gan"], "speed = { expr = 'frame' }")).nodes["gen"]
    assert ramp.walk_positions([0, 1, 4]).tolist() == [0.0, 0.0, 6.0]  # 0+1+2+3
    # a frame's latent does not depend on what was rendered before it
    fresh = graph(tmp_path, gan_node(models["gan"], "speed = { expr = 'frame' }")).nodes["gen"]
    assert torch.equal(ramp.latents([9]), fresh.latents([2, 9])[1:])


def test_frame_range_alone_equals_whole_render(tmp_path, models):
    p = pipeline(tmp_path, gan_node(models["gan"], "speed = { keyframes = [[0, 0.5], [11, 2.0]] }"))
    render(build(load(p)), RenderOptions(device="cpu", batch_size=4))
    whole = decode_frames(tmp_path / "o.mkv")
    (tmp_path / "o.mkv").rename(tmp_path / "whole.mkv")
    render(build(load(p)), RenderOptions(device="cpu", batch_size=3, frames=(5, 10)))  # --frames 5-9
    part = decode_frames(tmp_path / "o.mkv")
    assert len(whole) == 12 and len(part) == 5
    for k, f in enumerate(range(5, 10)):
        assert np.array_equal(part[k], whole[f]), f"frame {f} differs"
    assert not np.array_equal(whole[5], whole[9])


@pytest.mark.parametrize("batch", [1, 5])
def test_batch_sizes_follow_the_engine(tmp_path, models, batch):
    g = graph(tmp_path, gan_node(models["gan"]))
    render(g, RenderOptions(device="cpu", batch_size=batch))
    node = g.nodes["gen"]
    expected = [batch] * (12 // batch) + ([12 % batch] if 12 % batch else [])
    assert node.batch_sizes == expected
    # the model runs on aligned chunks of 8 frames (the CPU default), each computed once
    assert node.chunk == 8 and node.forward_sizes == [8, 8]


def test_chunks_are_aligned_cached_and_capped(tmp_path, models):
    node = graph(tmp_path, gan_node(models["gan"], "chunk = 4")).nodes["gen"]
    node.frames(list(range(10)))  # chunks 0, 1, 2: frames 0-11
    assert node.batch_sizes == [10] and node.forward_sizes == [4, 4, 4]
    node.frames([10, 11, 12])  # chunk 2 is cached, chunk 3 is new
    assert node.forward_sizes == [4, 4, 4, 4]
    node.model.config["max_batch"] = 2  # a model-side maximum caps the chunk
    assert node.chunk == 2
    one = graph(tmp_path, gan_node(models["gan"], "chunk = 32")).nodes["gen"]
    one.frames(list(range(12)))
    assert one.forward_sizes == [32]  # one forward pass for the whole batch


def test_batched_frames_match_single_frames(tmp_path, models):
    node = graph(tmp_path, gan_node(models["gan"])).nodes["gen"]
    batch = node.frames(list(range(3, 14))).pixels
    alone = []
    for i in range(3, 14):
        node._chunks.clear()  # no help from the chunk cache
        alone.append(node.frames([i]).pixels)
    assert torch.equal(batch, torch.cat(alone))


# ------------------------------------------------------------------------------------ classes


def test_class_selection(tmp_path, models):
    def px(extra):
        return graph(tmp_path, gan_node(models["cgan"], extra)).nodes["gen"].frames([2]).pixels

    fire, smoke, smoke_i = px('class = "fire"'), px('class = "smoke"'), px("class = 1")
    assert torch.equal(smoke, smoke_i)
    assert (fire - smoke).abs().mean() > 1e-3
    assert torch.equal(px(""), fire)  # default: the first class


def test_bad_models_and_classes_exit_2_naming_node_and_option(tmp_path, models):
    torch.save({"w": torch.zeros(2)}, tmp_path / "evil.pt")
    (tmp_path / "evil.safetensors").write_bytes((tmp_path / "evil.pt").read_bytes())
    nodes = f"""
[nodes.gen]
type = "generator.gan"
model = "{models["gan"]}"
[nodes.missing]
type = "generator.gan"
model = "nope.safetensors"
[nodes.pickled]
type = "generator.gan"
model = "evil.pt"
[nodes.renamed]
type = "generator.gan"
model = "evil.safetensors"
[nodes.unshipped]
type = "generator.gan"
model = "no_such_model_name"
[nodes.badclass]
type = "generator.gan"
model = "{models["cgan"]}"
class = "lava"
[nodes.badindex]
type = "generator.gan"
model = "{models["cgan"]}"
class = 7
[nodes.uncond]
type = "generator.gan"
model = "{models["gan"]}"
class = "fire"
[nodes.family]
type = "generator.gan"
model = "{models["vae"]}"
[nodes.noinput]
type = "generator.vae"
model = "{models["vae"]}"
mode = "blend"
"""
    res = run_vfx("render", pipeline(tmp_path, nodes))
    assert res.returncode == 2, res.stderr
    err = res.stderr
    assert "Traceback" not in err
    lines = {line.split("node '")[1].split("'")[0]: line for line in err.splitlines() if "node '" in line}
    expect = {
        "missing": ("'model'", "not found"),
        "pickled": ("'model'", "pickle"),
        "renamed": ("'model'", "pickle"),
        "unshipped": ("'model'", "shipped models"),
        "badclass": ("'class'", "fire, 1: smoke, 2: ice"),
        "badindex": ("'class'", "out of range"),
        "uncond": ("'class'", "unconditional"),
        "family": ("'model'", "generator.vae"),
        "noinput": ("'input'", "needs input"),
    }
    for node_id, (option, words) in expect.items():
        assert node_id in lines, f"no error for {node_id}:\n{err}"
        assert f"option {option}" in lines[node_id] and words in lines[node_id], lines[node_id]
    assert "gen" not in lines


def test_shipped_model_names_resolve(tmp_path, models, monkeypatch):
    monkeypatch.setattr(gen, "models_dir", lambda: models["gan"].parent)
    assert "gan" in gen.shipped_models() and "cvae" in gen.shipped_models()
    assert gen.resolve_model("gan", tmp_path) == models["gan"]
    with pytest.raises(ValueError, match="did you mean 'gan'"):
        gen.resolve_model("gam", tmp_path)


# ------------------------------------------------------------------------------------ VAE modes


def gradient_clip(n=6, size=32):
    """Smooth colour gradients (linear light, opaque) that change with the frame."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    frames = []
    for i in range(n):
        r = 0.2 + 0.6 * x
        g = 0.3 + 0.5 * y * (0.5 + 0.1 * i)
        b = 0.8 - 0.6 * (x + y) / 2 + 0.02 * i
        frames.append(torch.stack([r, g, b, torch.ones_like(r)]))
    return torch.stack(frames).clamp(0, 1)


def vae_node(path, src, mode="reconstruct", **kw):
    return make_node(gen.VaeGenerator, src, model=str(path), mode=mode, size=[32, 32], fit="stretch", **kw)


def test_reconstruct_is_decode_of_encode(models):
    src = TensorClip(gradient_clip())
    node = vae_node(models["vae"], src)
    out = node.frames([0, 3]).pixels
    assert out.shape == (2, 4, 32, 32) and (out[:, 3] == 1).all()
    model = load_model(models["vae"])
    x = _encode(torch.nn.functional.interpolate(gradient_clip()[[0, 3], :3], size=(16, 16), mode="area"))
    with torch.no_grad():
        mu, _ = model.encode(x)
        y = model.decode(mu)
    want = torch.nn.functional.interpolate(_decode(y), size=(32, 32), mode="bicubic", align_corners=False).clamp(0, 1)
    assert (out[:, :3] - want).abs().max() < 0.02


def _train_tiny_vae(path, steps=250):
    """A 16x16 VAE trained for a few seconds on random smooth gradients like ``gradient_clip``."""
    torch.manual_seed(0)
    model = build_model({"architecture": "conv_vae", "resolution": 16, "latent_dim": 8, "channels": 16})
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    y, x = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    for _ in range(steps):
        c = torch.rand(32, 3, 3, 1, 1)
        imgs = (c[:, 0] + (c[:, 1] - c[:, 0]) * x + (c[:, 2] - c[:, 0]) * y * 0.5).clamp(0, 1)
        mu, logvar = model.encode(imgs)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        rec = model.decode(z)
        kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1).mean()
        loss = ((rec - imgs) ** 2).sum((1, 2, 3)).mean() + 0.01 * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return save_model(model, path)


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    return _train_tiny_vae(tmp_path_factory.mktemp("trained") / "trained.safetensors")


def test_reconstruct_with_a_trained_vae_is_close_to_the_input(tmp_path, trained_vae):
    from skimage.metrics import peak_signal_noise_ratio

    path = trained_vae
    clip = gradient_clip()
    src = TensorClip(clip)
    out = vae_node(path, src).frames(list(range(6))).pixels
    to8 = lambda t: (_encode(t[:, :3]) * 255).round().numpy()  # noqa: E731
    psnr = peak_signal_noise_ratio(to8(clip), to8(out), data_range=255)
    untrained = build_model({"architecture": "conv_vae", "resolution": 16, "latent_dim": 8, "channels": 16})
    base = vae_node(save_model(untrained, tmp_path / "u.safetensors"), src).frames(list(range(6))).pixels
    print(f"PSNR of the trained VAE's reconstruction: {psnr:.1f} dB")
    assert psnr > 24, psnr
    assert psnr > peak_signal_noise_ratio(to8(clip), to8(base), data_range=255) + 8
    # fill on a 16:9 frame: the frame goes into the middle band of the model's square and the
    # decoded band comes back over it, lined up (a flipped or shifted band would score far lower)
    wide = torch.nn.functional.interpolate(clip, size=(54, 96), mode="bilinear", align_corners=False)
    node = make_node(gen.VaeGenerator, TensorClip(wide), model=str(path), mode="reconstruct", size=[96, 54])
    out = node.frames(list(range(6))).pixels
    psnr_fill = peak_signal_noise_ratio(to8(wide), to8(out), data_range=255)
    print(f"PSNR with fill on 16:9 frames: {psnr_fill:.1f} dB")
    assert psnr_fill > 22, psnr_fill
    assert psnr_fill > peak_signal_noise_ratio(to8(wide), to8(out.flip(-2)), data_range=255) + 3


def test_blend_and_stylise(models, trained_vae):
    models = {"vae": trained_vae}
    a, b = TensorClip(gradient_clip()), TensorClip(gradient_clip().flip(-1))

    def blend(mix):
        node = make_node(
            gen.VaeGenerator,
            a,
            model=str(models["vae"]),
            mode="blend",
            size=[32, 32],
            fit="stretch",
            input_b="b",
            mix=mix,
        )
        node.connect({"input": a, "input_b": b})
        node.configure()
        return node.frames([1, 2]).pixels

    rec_a = vae_node(models["vae"], a).frames([1, 2]).pixels
    rec_b = vae_node(models["vae"], b).frames([1, 2]).pixels
    assert torch.allclose(blend(0.0), rec_a, atol=1e-6)
    assert torch.allclose(blend(1.0), rec_b, atol=1e-6)
    half = blend(0.5)
    assert (half - rec_a).abs().mean() > 1e-3 and (half - rec_b).abs().mean() > 1e-3
    animated = blend({"keyframes": [[1, 0.0], [2, 1.0]]})
    assert torch.allclose(animated[0], rec_a[0], atol=1e-6) and torch.allclose(animated[1], rec_b[1], atol=1e-6)
    # stylise: amount 0 is the reconstruction; more amount drifts further, deterministically
    s0 = vae_node(models["vae"], a, mode="stylise", amount=0.0).frames([1, 2]).pixels
    s1 = vae_node(models["vae"], a, mode="stylise", amount=1.0).frames([1, 2]).pixels
    s3 = vae_node(models["vae"], a, mode="stylise", amount=3.0).frames([1, 2]).pixels
    assert torch.allclose(s0, rec_a, atol=1e-6)
    assert 1e-3 < (s1 - rec_a).abs().mean() < (s3 - rec_a).abs().mean()
    assert torch.equal(s1, vae_node(models["vae"], a, mode="stylise", amount=1.0).frames([1, 2]).pixels)


def test_conditional_vae_walk_and_reconstruct(models):
    from vfx.node import NodeContext, PipelineSettings
    from vfx.options import ParseContext

    src = TensorClip(gradient_clip())
    a = vae_node(models["cvae"], src, **{"class": "a"}).frames([0]).pixels
    b = vae_node(models["cvae"], src, **{"class": "b"}).frames([0]).pixels
    assert (a - b).abs().mean() > 1e-4
    parsed = gen.VaeGenerator.Options.from_mapping(
        {"model": str(models["cvae"]), "size": [32, 32], "class": "b"}, ParseContext()
    )
    walk = gen.VaeGenerator("walk", parsed, NodeContext("walk", PipelineSettings(duration=30)))
    walk.configure()
    px = walk.frames([0, 1]).pixels
    assert px.shape == (2, 4, 32, 32) and walk.video.frame_count == 30 and walk.audio is None
    assert (px[0] - px[1]).abs().max() > 0


def test_vae_in_a_pipeline_keeps_input_length_and_audio(tmp_path, models, clip):
    nodes = f"""
[nodes.clip]
type = "source.video"
path = "{clip}"
[nodes.gen]
type = "generator.vae"
model = "{models["vae"]}"
mode = "reconstruct"
input = "clip"
"""
    g = graph(tmp_path, nodes, duration=12)
    node = g.nodes["gen"]
    assert node.video.frame_count == 48 and node.audio is not None
    assert node.frames([0, 47]).pixels.shape == (2, 4, 54, 96)


# ------------------------------------------------------------------------------------ GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_autocast_matches_cpu(tmp_path, models):
    cpu = graph(tmp_path, gan_node(models["gan"])).nodes["gen"]
    ref = cpu.frames(list(range(12))).pixels
    g = build(load(pipeline(tmp_path, gan_node(models["gan"]), name="cuda.toml")), device="cuda")
    node = g.nodes["gen"]
    node.open()
    out = node.frames(list(range(12))).pixels
    assert out.device.type == "cuda" and out.shape == ref.shape
    assert next(node.model.parameters()).device.type == "cuda"
    assert (out.cpu() - ref).abs().mean() < 0.02  # bf16/fp16 autocast vs float32
    # fp32 on CUDA is close to the CPU float32 result
    g32 = build(load(pipeline(tmp_path, gan_node(models["gan"], 'precision = "fp32"'), name="c32.toml")), device="cuda")
    out32 = g32.nodes["gen"].frames(list(range(12))).pixels
    assert (out32.cpu() - ref).abs().mean() < 2e-3 and (out32.cpu() - ref).abs().max() < 0.02
    # a whole render on the GPU, batches as asked
    render(g, RenderOptions(device="cuda", batch_size=8))
    assert node.batch_sizes[-2:] == [8, 4]
    vae = build(
        load(pipeline(tmp_path, f'[nodes.gen]\ntype = "generator.vae"\nmodel = "{models["vae"]}"\n', name="vae.toml")),
        device="cuda",
    ).nodes["gen"]
    assert vae.frames([0, 1]).pixels.device.type == "cuda"
