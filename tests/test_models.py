"""Model files and the architecture registry: exact round trips, pickles refused, plugin architectures."""

from __future__ import annotations

import json
import pickle

import pluggy
import pytest
import torch

import vfx
import vfx.plugins
from vfx.models import (
    GenerativeModel,
    ModelError,
    ModelFileError,
    architectures,
    build_model,
    load_model,
    read_config,
    save_model,
)


def _models():
    return [
        build_model({"architecture": "conv_vae", "resolution": 16, "channels": 8, "latent_dim": 8}),
        build_model(
            {
                "architecture": "dcgan_sn",
                "resolution": 16,
                "channels": 8,
                "latent_dim": 8,
                "class_names": ["fire", "smoke"],
            }
        ),
    ]


def test_builtin_architectures_are_registered_through_the_hook():
    known = architectures()
    assert {"conv_vae", "dcgan_sn"} <= set(known)
    assert vfx.plugins.get_registry().architecture_plugin["conv_vae"] == "generators"


@pytest.mark.parametrize("index", [0, 1])
def test_save_load_round_trip_is_exact(tmp_path, index):
    torch.manual_seed(index)
    model = _models()[index]
    if model.family == "gan":  # move the batch-norm statistics off their defaults
        model.train()
        model.synthesize(torch.randn(8, 8), torch.randint(0, 2, (8,)))
    model.eval()
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert not loaded.training and loaded.family == model.family
    assert loaded.config["architecture"] == model.config["architecture"]
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    z = torch.randn(4, 8)
    labels = torch.tensor([0, 1, 1, 0]) if model.num_classes else None
    out = loaded.generate(z, labels)
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    assert torch.equal(model.generate(z, labels), out)
    assert loaded.class_names == model.class_names and loaded.resolution == 16 and loaded.latent_dim == 8
    assert not list(tmp_path.glob(".*partial*")), "the temporary file was left behind"


def test_vae_encode_decode_and_gan_refuses_encode():
    vae, gan = _models()
    vae.eval()
    mu, logvar = vae.encode(torch.rand(3, 3, 16, 16))
    assert mu.shape == logvar.shape == (3, 8)
    assert torch.equal(vae.decode(mu), vae.generate(mu))
    with pytest.raises(vfx.VfxError, match="cannot encode"):
        gan.encode(torch.rand(1, 3, 16, 16), torch.tensor([0]))
    with pytest.raises(ModelError, match="class-conditional"):
        gan.generate(torch.randn(2, 8))
    with pytest.raises(ModelError, match="shape"):
        vae.generate(torch.randn(2, 5))


def test_half_file_is_smaller_and_loads_as_float32(tmp_path):
    model = _models()[0].eval()
    full = save_model(model, tmp_path / "f.safetensors")
    half = save_model(model, tmp_path / "h.safetensors", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(half)
    assert next(loaded.parameters()).dtype == torch.float32
    z = torch.randn(2, 8)
    assert (loaded.generate(z) - model.generate(z)).abs().max() < 1e-2


@pytest.mark.parametrize("kind", ["zip", "legacy"])
def test_a_pickle_is_refused_without_unpickling(tmp_path, kind):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "model.safetensors"
    torch.save({"weights": torch.zeros(3), "evil": Evil()}, path, _use_new_zipfile_serialization=kind == "zip")
    with pytest.raises(ModelFileError, match="pickle") as info:
        load_model(path)
    assert str(path) in str(info.value) and info.value.exit_code == 2
    assert not marker.exists()
    pt = tmp_path / "model.pt"
    pt.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelFileError, match="model.pt"):
        load_model(pt)


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(ModelFileError, match="not a safetensors"):
        load_model(junk)
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ModelFileError, match="not a vfx model"):
        load_model(plain)


def test_unknown_architecture_names_it_and_lists_the_known_ones(tmp_path):
    path = save_model(_models()[0], tmp_path / "m.safetensors")
    from safetensors.torch import load_file, save_file

    config = read_config(path)
    config["architecture"] = "stylegan9"
    save_file(load_file(str(path)), str(path), metadata={"vfx_config": json.dumps(config)})
    with pytest.raises(ModelError, match="stylegan9") as info:
        load_model(path)
    assert "conv_vae" in str(info.value) and "dcgan_sn" in str(info.value)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    path = save_model(_models()[0], tmp_path / "m.safetensors")
    from safetensors.torch import load_file, save_file

    config = read_config(path)
    config["latent_dim"] = 12
    save_file(load_file(str(path)), str(path), metadata={"vfx_config": json.dumps(config)})
    with pytest.raises(ModelFileError, match="do not fit"):
        load_model(path)


# --- a third-party architecture, registered through the hook -------------------------------------


class LinearVAE(GenerativeModel):
    """A deliberately tiny VAE: one linear layer each way."""

    family = "vae"

    def __init__(self, config):
        super().__init__(config)
        n = 3 * self.resolution**2
        self.enc = torch.nn.Linear(n, 2 * self.latent_dim)
        self.dec = torch.nn.Linear(self.latent_dim, n)

    def encode(self, images, labels=None):
        mu, logvar = self.enc(images.flatten(1)).chunk(2, 1)
        return mu, logvar

    def decode(self, z, labels=None):
        self.check_latents(z)
        return torch.sigmoid(self.dec(z)).view(-1, 3, self.resolution, self.resolution)


class _ThirdParty:
    @vfx.hookimpl
    def register_model_architectures(self, register):
        register("linear_vae", LinearVAE)
        register("conv_vae", LinearVAE)  # a clash: refused, recorded
        register("broken", dict)  # not a GenerativeModel: refused, recorded


@pytest.fixture
def third_party_registry(monkeypatch):
    import vfx_plugins.generators.architectures as builtin

    manager = pluggy.PluginManager("vfx")
    manager.add_hookspecs(vfx.hookspecs)
    manager.register(builtin, name="architectures")
    manager.register(_ThirdParty(), name="thirdparty")
    registry = vfx.plugins.Registry(manager, [])
    monkeypatch.setattr(vfx.plugins, "get_registry", lambda: registry)
    return registry


def test_third_party_architecture_trains_saves_and_loads(tmp_path, third_party_registry, synthetic_images):
    reg = third_party_registry
    assert reg.architectures["linear_vae"] is LinearVAE
    from vfx.models import architecture

    assert architecture("conv_vae").__name__ == "ConvVAE"
    errors = " ".join(f.error for f in reg.failures)
    assert "already registered" in errors and "not a vfx.models.GenerativeModel" in errors
    from vfx.models.train import TrainSettings, train

    result = train(
        TrainSettings(
            "vae",
            [str(synthetic_images)],
            str(tmp_path / "lin.safetensors"),
            architecture="linear_vae",
            resolution=16,
            latent_dim=4,
            steps=5,
            batch_size=4,
        )
    )
    model = load_model(result.out)
    assert isinstance(model, LinearVAE) and model.config["training"]["steps"] == 5
    assert model.generate(torch.randn(2, 4)).shape == (2, 3, 16, 16)
    with pytest.raises(ModelError, match="is a vae model"):
        train(
            TrainSettings(
                "gan",
                [str(synthetic_images)],
                str(tmp_path / "x.safetensors"),
                architecture="linear_vae",
                resolution=16,
                steps=1,
            )
        )
