"""C2PA content credentials: ``vfx render --sign``, ``vfx verify``, farm joins, and what they claim.

The certificate chain (a root CA and an ES256 signing certificate with the digitalSignature key
usage and the emailProtection extended key usage) is made here with ``cryptography``; renders
use the shipped 64 px models at 64x64, four frames, in-process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import c2pa
import pytest

from vfx.cli import main
from vfx.credentials import COMPOSITE, TRAINED, generated_outputs
from vfx.graph import build
from vfx.pipeline import load

from conftest import decode_frames, make_video, write_pipeline

import vfx_plugins.generators.generators as gen

HEAD = """
format = 1
[pipeline]
width = 64
height = 64
fps = 24
duration = 4
seed = 3
"""
GENERATED = (
    HEAD
    + """
[nodes.nebula]
type = "generator.gan"
model = "nebula"

[nodes.soft]
type = "effect.vignette"
input = "nebula"

[nodes.out]
type = "encode.video"
input = "soft"
path = "out.mp4"
preset = "ultrafast"
"""
)
COMPOSITED = (
    HEAD
    + """
[nodes.plate]
type = "source.video"
path = "plate.mp4"

[nodes.fire]
type = "generator.vae"
model = "fire"
size = [32, 32]

[nodes.comp]
type = "editor.composite"
layers = ["plate", { input = "fire", position = [16, 16], blend = "screen" }]

[nodes.out]
type = "encode.video"
input = "comp"
path = "comp.mp4"
preset = "ultrafast"
"""
)


def vfx(capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _pem(obj) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(obj, "public_bytes"):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(subject, issuer, public_key, signing_key, *, ca: bool, eku: bool = True):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def name(cn):
        return x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vfx tests")]
        )

    usage = dict.fromkeys(
        (
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    b = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if not ca and eku:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False
        )
    return b.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """root.pem, chain.pem (signing certificate + root), key.pem; other.pem (another key), noeku.pem (its certificate, without an extended key usage)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path_factory.mktemp("pki")
    root_key, key, other = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert("vfx test root", "vfx test root", root_key.public_key(), root_key, ca=True)
    leaf = _cert("vfx test signer", "vfx test root", key.public_key(), root_key, ca=False)
    no_eku = _cert("no eku", "vfx test root", other.public_key(), root_key, ca=False, eku=False)
    files = {
        "root": _pem(root),
        "chain": _pem(leaf) + _pem(root),
        "key": _pem(key),
        "other": _pem(other),
        "noeku": _pem(no_eku) + _pem(root),
    }
    for stem, data in files.items():
        (folder / f"{stem}.pem").write_bytes(data)
    return {stem: folder / f"{stem}.pem" for stem in files}


def _manifest(path):
    with c2pa.Reader(str(path)) as reader:
        return reader.get_validation_state(), reader.get_active_manifest()


def _assertion(manifest, label):
    return next(a["data"] for a in manifest["assertions"] if a["label"].startswith(label))


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_signed_render_verifies_and_names_models_and_pipeline(tmp_path, pki, capsys):
    p = write_pipeline(tmp_path, GENERATED)
    code, out, err = vfx(capsys, "render", p, "--sign", pki["chain"], "--key", pki["key"])
    assert code == 0, err
    assert len(decode_frames(tmp_path / "out.mp4")) == 4
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out.mp4", "p.toml"]  # no staging left
    code, out, err = vfx(capsys, "verify", tmp_path / "out.mp4", "--pipeline", p)
    assert code == 0, err
    assert "source type:  trainedAlgorithmicMedia" in out and "nebula.safetensors" in out
    assert out.strip().endswith("not checked against a trust list (--trust ROOTS.pem)")
    code, out, _ = vfx(capsys, "verify", tmp_path / "out.mp4", "--trust", pki["root"])
    assert code == 0 and "valid: the signer chains to" in out

    # the c2pa library itself reads the same claims
    state, manifest = _manifest(tmp_path / "out.mp4")
    assert state == "Valid"
    (action,) = _assertion(manifest, "c2pa.actions")["actions"]
    assert action["action"] == "c2pa.created" and action["digitalSourceType"] == TRAINED
    info = _assertion(manifest, "org.vfx.render")
    model = gen.models_dir() / "nebula.safetensors"
    assert info["generators"] == [
        {"node": "nebula", "type": "generator.gan", "models": [{"name": model.name, "sha256": _sha(model)}]}
    ]
    assert info["sources"] == [] and info["pipeline"] == {"name": "p.toml", "sha256": _sha(p), "overrides": []}
    assert manifest["signature_info"]["common_name"] == "vfx test signer"

    # another pipeline file: its hash is not the recorded one
    other = write_pipeline(tmp_path, GENERATED + "\n# edited\n", "q.toml")
    code, _, err = vfx(capsys, "verify", tmp_path / "out.mp4", "--pipeline", other)
    assert code == 2 and "sha256 is not the one the manifest records" in err


def test_generated_layers_over_footage_are_a_composite(tmp_path, pki, capsys):
    make_video(tmp_path / "plate.mp4", frames=8, size=(64, 64), audio_freq=None)
    p = write_pipeline(tmp_path, COMPOSITED)
    code, _, err = vfx(capsys, "render", p, "--sign", pki["chain"], "--key", pki["key"], "-q")
    assert code == 0, err
    state, manifest = _manifest(tmp_path / "comp.mp4")
    assert state == "Valid"
    assert _assertion(manifest, "c2pa.actions")["actions"][0]["digitalSourceType"] == COMPOSITE
    info = _assertion(manifest, "org.vfx.render")
    assert info["sources"] == [{"node": "plate", "type": "source.video"}]
    assert info["generators"][0]["models"][0]["sha256"] == _sha(gen.models_dir() / "fire.safetensors")


def test_what_the_graph_decides(tmp_path):
    """A generator's own inputs are consumed by the model; an audio input carries no pictures."""
    make_video(tmp_path / "plate.mp4", frames=8, size=(64, 64))
    body = (
        HEAD
        + """
[nodes.plate]
type = "source.video"
path = "plate.mp4"

[nodes.recon]
type = "generator.vae"
model = "fire"
mode = "reconstruct"
input = "plate"

[nodes.out]
type = "encode.video"
input = "recon"
audio = "plate"
path = "a.mp4"

[nodes.camera]
type = "encode.video"
input = "plate"
path = "b.mp4"
"""
    )
    graph = build(load(write_pipeline(tmp_path, body)))
    try:
        found = generated_outputs(graph, ["x=1"])
    finally:
        graph.close()
    assert list(found) == ["out"]  # the plain transcode holds no generated frames
    assert found["out"].source_type == TRAINED and found["out"].sources == []
    assert found["out"].pipeline["overrides"] == ["x=1"]


def test_tampered_unsigned_and_unsupported_files_fail(tmp_path, pki, capsys):
    p = write_pipeline(tmp_path, GENERATED)
    assert vfx(capsys, "render", p, "-q", "--sign", pki["chain"], "--key", pki["key"])[0] == 0
    data = bytearray((tmp_path / "out.mp4").read_bytes())
    data[data.index(b"mdat") + 64] ^= 0xFF
    (tmp_path / "bad.mp4").write_bytes(bytes(data))
    code, out, err = vfx(capsys, "verify", tmp_path / "bad.mp4")
    assert code == 2 and "do not verify" in err and "bmffHash.mismatch" in out
    assert "Traceback" not in err

    code, _, err = vfx(capsys, "render", p, "--set", "out.path=plain.mp4")
    assert code == 0
    assert err.count("carries no content credentials") == 1  # the note: one line, not an error
    code, _, err = vfx(capsys, "verify", tmp_path / "plain.mp4")
    assert code == 2 and "plain.mp4 carries no content credentials (no C2PA manifest)" in err
    (tmp_path / "x.mkv").write_bytes(b"\x1a\x45\xdf\xa3")
    code, _, err = vfx(capsys, "verify", tmp_path / "x.mkv")
    assert code == 2 and "cannot read .mkv files" in err


def test_bad_key_or_certificate_leaves_no_output(tmp_path, pki, capsys):
    p = write_pipeline(tmp_path, GENERATED)
    (tmp_path / "out.mp4").write_bytes(b"the user's own file")
    before = sorted(f.name for f in tmp_path.iterdir())
    cases = [
        (("--sign", pki["chain"], "--key", pki["other"]), "is not the key of the certificate"),
        (("--sign", pki["noeku"], "--key", pki["other"]), "c2pa cannot sign with this certificate"),
        (("--sign", pki["chain"], "--key", pki["chain"]), "--key"),
        (("--sign", pki["chain"]), "--sign and --key go together"),
        (("--set", "out.path=out.mkv", "--sign", pki["chain"], "--key", pki["key"]), "node 'out': option 'path'"),
    ]
    for args, message in cases:
        code, _, err = vfx(capsys, "render", p, *args)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err, err
        assert sorted(f.name for f in tmp_path.iterdir()) == before
    assert (tmp_path / "out.mp4").read_bytes() == b"the user's own file"


def test_signing_that_fails_after_the_render_touches_nothing(tmp_path, pki, capsys, monkeypatch):
    import vfx.credentials as credentials

    def fail(path, prov, key, title=None):
        raise credentials.CredentialError(f"node '{prov.encoder}': cannot sign {path.name}: disk full")

    monkeypatch.setattr(credentials, "sign_in_place", fail)
    p = write_pipeline(tmp_path, GENERATED)
    (tmp_path / "out.mp4").write_bytes(b"the user's own file")
    code, _, err = vfx(capsys, "render", p, "--sign", pki["chain"], "--key", pki["key"])
    assert code == 2 and "cannot sign out.mp4: disk full" in err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out.mp4", "p.toml"]
    assert (tmp_path / "out.mp4").read_bytes() == b"the user's own file"


def test_png_sequence_frames_are_each_signed(tmp_path, pki, capsys):
    body = GENERATED.replace('type = "encode.video"', 'type = "encode.image_sequence"')
    body = body.replace('path = "out.mp4"\npreset = "ultrafast"', 'path = "seq/f_%02d.png"')
    p = write_pipeline(tmp_path, body)
    code, _, err = vfx(capsys, "render", p, "-q", "--sign", pki["chain"], "--key", pki["key"])
    assert code == 0, err
    files = sorted((tmp_path / "seq").iterdir())
    assert [f.name for f in files] == [f"f_{i:02d}.png" for i in range(4)]
    for f in files:
        state, manifest = _manifest(f)
        assert state == "Valid" and manifest["title"] == f.name
        assert _assertion(manifest, "c2pa.actions")["actions"][0]["digitalSourceType"] == TRAINED


def test_farm_join_signs_the_joined_file(tmp_path, pki, capsys):
    p = write_pipeline(tmp_path, GENERATED)
    seg = tmp_path / "segments"
    for frames in ("0-1", "2-3"):
        code, _, err = vfx(capsys, "farm", "chunk", p, "--frames", frames, "--segment-dir", seg)
        assert code == 0, err
    code, out, err = vfx(capsys, "farm", "join", p, "--segment-dir", seg, "--sign", pki["chain"], "--key", pki["key"])
    assert code == 0, err
    assert len(decode_frames(tmp_path / "out.mp4")) == 4
    code, out, _ = vfx(capsys, "verify", tmp_path / "out.mp4", "--trust", pki["root"], "--json")
    assert code == 0 and "trainedAlgorithmicMedia" in out
    store, _ = json.JSONDecoder().raw_decode(out)  # --json: c2pa's manifest store first
    assert store["validation_state"] == "Trusted" and store["active_manifest"] in store["manifests"]


def test_farm_render_signs_the_joined_file(tmp_path, pki, capsys, ray_cluster):
    p = write_pipeline(tmp_path, GENERATED)
    args = ("farm", "render", p, "--chunk-size", "2", "--address", ray_cluster.address, "-q")
    code, _, err = vfx(capsys, *args, "--sign", pki["chain"], "--key", pki["key"])
    assert code == 0, err
    state, manifest = _manifest(tmp_path / "out.mp4")
    assert state == "Valid" and _assertion(manifest, "c2pa.actions")["actions"][0]["digitalSourceType"] == TRAINED
    assert len(decode_frames(tmp_path / "out.mp4")) == 4
    code, _, err = vfx(capsys, *args, "--set", "out.path=out.mkv", "--sign", pki["chain"], "--key", pki["key"])
    assert code == 2 and "cannot be embedded in .mkv files" in err and not (tmp_path / "out.mkv").exists()
