"""Training: the loss falls, seeded runs repeat, --resume continues exactly, the CLI writes what it says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vfx.models import ModelError, TrainingDataError, load_model, read_config
from vfx.models.data import DataSource, augment, load_dataset
from vfx.models.train import TrainSettings, checkpoint_path, samples_dir, train

from conftest import make_video, run_vfx

TINY = dict(resolution=16, channels=8, latent_dim=8, batch_size=8)


def _settings(family, data, out, **kw):
    return TrainSettings(family, [str(d) for d in data], str(out), **{**TINY, **kw})


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_vae_loss_falls(tmp_path, synthetic_images):
    result = train(_settings("vae", [synthetic_images], tmp_path / "v.safetensors", steps=60, lr=3e-3))
    losses = np.array([h["loss"] for h in result.history])
    assert len(losses) == 60 and np.isfinite(losses).all()
    first, last = np.median(losses[:8]), np.median(losses[-8:])
    assert last < 0.6 * first, (first, last)


def test_seeded_training_is_reproducible_and_the_seed_matters(tmp_path, synthetic_images):
    runs = [
        train(_settings("gan", [synthetic_images], tmp_path / f"{name}.safetensors", steps=4, seed=seed))
        for name, seed in (("a", 3), ("b", 3), ("c", 4))
    ]
    a, b, c = (_weights(r.out) for r in runs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert runs[0].history == runs[1].history
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_resume_continues_from_the_checkpoint_exactly(tmp_path, synthetic_images, family):
    straight = train(_settings(family, [synthetic_images], tmp_path / "straight.safetensors", steps=8))
    out = tmp_path / "split.safetensors"
    first = train(_settings(family, [synthetic_images], out, steps=5, checkpoint_every=5))
    assert first.checkpoints == [checkpoint_path(out)] and read_config(out)["training"]["steps"] == 5
    second = train(_settings(family, [synthetic_images], out, steps=8, resume=True, checkpoint_every=5))
    assert second.start_step == 5 and len(second.history) == 3
    assert second.history == straight.history[5:]
    a, b = _weights(straight.out), _weights(out)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert read_config(out)["training"]["steps"] == 8
    ckpt = load_model(checkpoint_path(out))  # a checkpoint renders too
    assert ckpt.generate(torch.randn(1, 8)).shape == (1, 3, 16, 16)


def test_class_labels_from_named_data(tmp_path, synthetic_images):
    clip = make_video(tmp_path / "clip.mp4", frames=30, size=(64, 48), audio_freq=None)
    data = load_dataset(
        [DataSource.parse(f"discs={synthetic_images}"), DataSource.parse(f"video={clip}")], 16, video_frames=10
    )
    assert data.class_names == ["discs", "video"] and len(data) == 34
    assert data.labels.tolist() == [0] * 24 + [1] * 10 and data.images.shape == (34, 3, 20, 20)
    assert len(load_dataset([str(synthetic_images / "disc_%03d.png")], 16)) == 24
    assert len(load_dataset([str(synthetic_images / "disc_####.png")], 16)) == 24
    assert len(load_dataset([str(synthetic_images / "disc_00*.png")], 16)) == 10
    result = train(
        _settings(
            "vae", [f"discs={synthetic_images}", f"video={clip}"], tmp_path / "c.safetensors", steps=2, video_frames=10
        )
    )
    model = load_model(result.out)
    assert model.num_classes == 2 and model.class_names == ["discs", "video"]
    assert model.generate(torch.randn(2, 8), torch.tensor([0, 1])).shape == (2, 3, 16, 16)


def test_augmentation_keeps_range_and_shape_and_follows_the_generator():
    images = torch.randint(0, 256, (5, 3, 20, 20), dtype=torch.uint8)
    a = augment(images, 16, torch.Generator().manual_seed(1))
    b = augment(images, 16, torch.Generator().manual_seed(1))
    c = augment(images, 16, torch.Generator().manual_seed(2))
    assert a.shape == (5, 3, 16, 16) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_data_is_a_clear_error(tmp_path):
    with pytest.raises(TrainingDataError, match="no such file"):
        load_dataset([str(tmp_path / "nope")], 16)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingDataError, match="no images"):
        load_dataset([str(tmp_path / "empty")], 16)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    with pytest.raises(TrainingDataError, match="broken.png"):
        load_dataset([str(bad)], 16)
    with pytest.raises(TrainingDataError, match="either every"):
        load_dataset([f"a={bad}", str(bad)], 16)
    with pytest.raises(ModelError, match="unknown model architecture 'nope'"):
        train(_settings("vae", [bad], tmp_path / "x.safetensors", architecture="nope", steps=1))


def test_cli_trains_writes_model_and_sample_grid_and_resumes(tmp_path, synthetic_images, capsys):
    from PIL import Image

    out = tmp_path / "m.safetensors"
    args = [
        "train",
        "vae",
        "--data",
        synthetic_images,
        "--out",
        out,
        "--resolution",
        "16",
        "--channels",
        "8",
        "--latent-dim",
        "8",
        "--batch-size",
        "8",
        "--checkpoint-every",
        "3",
        "--amp",
    ]
    proc = run_vfx(*args, "--steps", "3", check=True)
    assert "ignored on the CPU" in proc.stderr and "wrote" in proc.stdout and "step 3/3" in proc.stdout
    grid = samples_dir(out) / "step_000003.png"
    assert out.is_file() and checkpoint_path(out).is_file() and grid.is_file()
    with Image.open(grid) as im:
        assert im.size == (8 * 18 + 2, 8 * 18 + 2)
    assert load_model(out).config["training"]["steps"] == 3
    code, stdout, _ = _vfx_in_process(capsys, *args, "--steps", "5", "--resume")
    assert code == 0 and "resumed" in stdout and "at step 3" in stdout and "step 5/5" in stdout
    assert (samples_dir(out) / "step_000005.png").is_file()
    assert load_model(out).config["training"]["steps"] == 5


def _vfx_in_process(capsys, *args):
    """``vfx ARGS`` through the console entry point, in this process: (exit code, stdout, stderr)."""
    from vfx.cli import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_refuses_bad_data_and_pickles_with_exit_2(tmp_path, synthetic_images, capsys):
    code, _, err = _vfx_in_process(
        capsys, "train", "gan", "--data", tmp_path / "missing", "--out", tmp_path / "m.safetensors"
    )
    assert code == 2 and "missing" in err and "Traceback" not in err
    out = tmp_path / "p.safetensors"
    torch.save({"w": torch.zeros(2)}, checkpoint_path(out))
    code, _, err = _vfx_in_process(
        capsys, "train", "vae", "--data", synthetic_images, "--out", out, "--resolution", "16", "--resume"
    )
    assert code == 2 and "Traceback" not in err
    assert str(checkpoint_path(out)) in err and "pickle" in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("family", ["vae", "gan"])
def test_cuda_amp_training_and_generation(tmp_path, synthetic_images, family):
    result = train(
        _settings(
            family,
            [synthetic_images],
            tmp_path / "g.safetensors",
            steps=20,
            device="cuda",
            amp=True,
            checkpoint_every=10,
        )
    )
    assert all(np.isfinite(list(h.values())).all() for h in result.history)
    model = load_model(result.out, device="cuda")
    z = torch.randn(4, 8, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        out = model.generate(z)
    assert out.device.type == "cuda" and out.shape == (4, 3, 16, 16) and out.dtype == torch.float32
    cpu = load_model(result.out).generate(z.cpu())
    assert (model.generate(z).cpu() - cpu).abs().max() < 1e-3
