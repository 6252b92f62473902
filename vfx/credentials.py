"""C2PA content credentials for outputs that hold generated frames: what to claim, signing, reading.

An encoder's output *contains generated frames* when its video input descends from a generator
node. It is ``trainedAlgorithmicMedia`` when every picture reaching it comes out of generators (a
generator's own inputs, such as the clips a VAE encodes, are consumed by the model), and
``compositeWithTrainedAlgorithmicMedia`` when another source (footage, stills, text, procedural
backgrounds) is also cut or composited in. The manifest (one ``c2pa.created`` action naming that
digital source type, and an ``org.vfx.render`` assertion listing the generator nodes, their model
files' names and sha256, the other sources, and the pipeline file's sha256 and overrides) is
signed with the user's certificate chain and key through ``c2pa-python``.

Signing never writes a user's file: a file is signed into a new partial beside it that replaces
it only when complete (``sign_in_place``), and a render signs its outputs in a hidden staging
folder before they are moved into place (``Staging``), so a failed signing leaves no output.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PipelineError, Problem, VfxError
from .util.atomic import AtomicDir

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC + "trainedAlgorithmicMedia"
COMPOSITE = IPTC + "compositeWithTrainedAlgorithmicMedia"
#: the label of vfx's own assertion (models, pipeline, sources)
ASSERTION = "org.vfx.render"
#: file extensions c2pa-python may not map to a MIME type itself
_MIME = {".m4v": "video/x-m4v", ".avi": "video/x-msvideo", ".heic": "image/heic", ".avif": "image/avif"}


class CredentialError(VfxError):
    """A certificate, key or file that cannot be signed or verified (exit 2)."""

    exit_code = 2


@dataclass
class Provenance:
    """What an output's content credentials claim."""

    encoder: str
    source_type: str
    generators: list[dict] = field(default_factory=list)  # node, type, models [{name, sha256}]
    sources: list[dict] = field(default_factory=list)  # the other sources composited in: node, type
    pipeline: dict = field(default_factory=dict)  # name, sha256, overrides


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _video_inputs(graph) -> dict[str, list[str]]:
    """Each node's video inputs (audio inputs carry no pictures)."""
    inputs: dict[str, list[str]] = {node_id: [] for node_id in graph.nodes}
    for src, dst, option in graph.edges():
        fld = graph.nodes[dst].Options.fields().get(option)
        if getattr(fld, "kind", "video") != "audio":
            inputs[dst].append(src)
    return inputs


def provenance(graph, encoder, overrides=()) -> Provenance | None:
    """The credentials of ``encoder``'s output, or None when none of its frames are generated."""
    inputs = _video_inputs(graph)
    generators: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    seen: set[str] = set()
    stack = list(inputs[encoder.id])
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        node = graph.nodes[node_id]
        if node.kind == "generator":
            generators[node_id] = node
        elif inputs[node_id]:
            stack.extend(inputs[node_id])
        else:
            sources[node_id] = node
    if not generators:
        return None
    return Provenance(
        encoder=encoder.id,
        source_type=COMPOSITE if sources else TRAINED,
        generators=[
            {
                "node": node_id,
                "type": node.type,
                "models": [{"name": Path(p).name, "sha256": sha256_file(Path(p))} for p in node.input_files()],
            }
            for node_id, node in sorted(generators.items())
        ],
        sources=[{"node": node_id, "type": node.type} for node_id, node in sorted(sources.items())],
        pipeline=pipeline_record(graph.spec, overrides),
    )


def pipeline_record(spec, overrides=()) -> dict:
    """The pipeline file's name and sha256 (of its bytes), and the ``--set`` overrides."""
    path = Path(spec.path) if getattr(spec, "path", None) else None
    if path is not None and path.is_file():
        digest = sha256_file(path)
    else:
        digest = hashlib.sha256(spec.text.encode()).hexdigest()
    return {"name": path.name if path else "", "sha256": digest, "overrides": list(overrides)}


def generated_outputs(graph, overrides=()) -> dict[str, Provenance]:
    """Encoder id -> credentials, for every encoder whose output contains generated frames."""
    found = {}
    for enc in graph.encoders:
        prov = provenance(graph, enc, overrides)
        if prov is not None:
            found[enc.id] = prov
    return found


def mime_type(path: Path) -> str:
    """The MIME type of ``path`` by its extension ('' when unknown)."""
    suffix = Path(path).suffix.lower()
    return _MIME.get(suffix) or mimetypes.guess_type(f"x{suffix}")[0] or ""


def supported_types() -> set[str]:
    """The MIME types c2pa-python can embed a manifest in."""
    import c2pa

    return set(c2pa.Builder.get_supported_mime_types())


def signable_suffixes(candidates=(".mp4", ".mov", ".avi", ".png")) -> list:
    """The extensions vfx's encoders write (of ``candidates``) that c2pa can sign here."""
    types = supported_types()
    return [s for s in candidates if mime_type(Path("x" + s)) in types]


def check_signable(graph, provs: dict[str, Provenance]) -> None:
    """Raise ``PipelineError`` (exit 2) naming the encoder and its ``path`` option for every output
    to sign that is not a single file c2pa can embed credentials in."""
    types = supported_types()
    problems: list[Problem] = []
    for enc_id in provs:
        enc = graph.nodes[enc_id]
        if not isinstance(getattr(enc.options, "path", None), Path):
            problems.append(
                graph.spec.problem(
                    f"--sign: {enc.type} names its files without a path option; vfx cannot sign them", node=enc_id
                )
            )
            continue
        paths = enc.output_paths()
        suffix = enc.options.path.suffix.lower()
        if mime_type(Path("x" + suffix)) not in types:
            problems.append(
                graph.spec.problem(
                    f"--sign: C2PA content credentials cannot be embedded in {suffix or 'extension-less'} "
                    f"files; they go in {', '.join(signable_suffixes())} (render this output to one of "
                    "those, or leave out --sign)",
                    node=enc_id,
                    option="path",
                )
            )
        elif not paths:
            problems.append(graph.spec.problem("--sign: this encoder writes no files", node=enc_id, option="path"))
    if problems:
        raise PipelineError(problems)


# ------------------------------------------------------------------------------------ signing

_ALGS = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


def _tiny_png() -> bytes:
    """A 1x1 PNG, to try a certificate and key on before anything is rendered."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b"")
    )


@dataclass
class SigningKey:
    """A certificate chain and its private key, checked and ready to sign with (``load``)."""

    cert_path: Path
    key_path: Path
    cert_pem: bytes
    key_pem: bytes
    alg: str
    subject: str

    @classmethod
    def load(cls, cert: str | Path, key: str | Path) -> "SigningKey":
        """Read and check ``cert`` (PEM: the signing certificate first, then its CA chain) and
        ``key`` (PEM private key), then sign a test picture with them; errors name the option."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        cert_path, key_path = Path(cert), Path(key)
        try:
            cert_bytes = cert_path.read_bytes()
        except OSError as exc:
            raise CredentialError(f"--sign {cert_path}: cannot read it ({exc.strerror or exc})") from None
        try:
            key_bytes = key_path.read_bytes()
        except OSError as exc:
            raise CredentialError(f"--key {key_path}: cannot read it ({exc.strerror or exc})") from None
        try:
            chain = x509.load_pem_x509_certificates(cert_bytes)
        except ValueError:
            raise CredentialError(
                f"--sign {cert_path}: not a PEM certificate chain (-----BEGIN CERTIFICATE-----, the signing "
                "certificate first, then the CAs that issued it)"
            ) from None
        try:
            private = serialization.load_pem_private_key(key_bytes, password=None)
        except TypeError:
            raise CredentialError(f"--key {key_path}: the key is encrypted; vfx needs an unencrypted PEM key") from None
        except (ValueError, Exception):
            raise CredentialError(f"--key {key_path}: not a PEM private key (-----BEGIN PRIVATE KEY-----)") from None
        if isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name in _ALGS:
            alg = _ALGS[private.curve.name]
        elif isinstance(private, rsa.RSAPrivateKey):
            alg = "ps256"
        elif isinstance(private, ed25519.Ed25519PrivateKey):
            alg = "ed25519"
        else:
            raise CredentialError(
                f"--key {key_path}: C2PA signs with EC P-256/P-384/P-521, RSA (PSS) or Ed25519 keys, "
                f"not {type(private).__name__}"
            )
        raw = serialization.PublicFormat.SubjectPublicKeyInfo
        public = private.public_key().public_bytes(serialization.Encoding.DER, raw)
        if chain[0].public_key().public_bytes(serialization.Encoding.DER, raw) != public:
            raise CredentialError(
                f"--key {key_path} is not the key of the certificate {cert_path} (the first certificate of "
                "--sign must be the signing certificate)"
            )
        import datetime as dt

        now = dt.datetime.now(dt.timezone.utc)
        first = chain[0]
        if not first.not_valid_before_utc <= now <= first.not_valid_after_utc:
            raise CredentialError(
                f"--sign {cert_path}: the certificate is valid from {first.not_valid_before_utc:%Y-%m-%d} to "
                f"{first.not_valid_after_utc:%Y-%m-%d}, not now"
            )
        pkcs8 = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        got = cls(cert_path, key_path, cert_bytes, pkcs8, alg, first.subject.rfc4514_string())
        got._try()
        return got

    def signer(self):
        """A c2pa ``Signer`` for one signing."""
        import c2pa

        try:
            return c2pa.Signer.from_info(c2pa.C2paSignerInfo(self.alg, self.cert_pem, self.key_pem, None))
        except c2pa.C2paError as exc:
            raise CredentialError(f"--sign {self.cert_path} / --key {self.key_path}: {_reason(exc)}") from None

    def _try(self) -> None:
        import io

        import c2pa

        builder = c2pa.Builder(json.dumps(_manifest(Provenance("test", TRAINED), "test.png", "image/png")))
        try:
            builder.sign(self.signer(), "image/png", io.BytesIO(_tiny_png()), io.BytesIO())
        except c2pa.C2paError as exc:
            raise CredentialError(
                f"--sign {self.cert_path}: c2pa cannot sign with this certificate and key ({_reason(exc)}); it "
                "needs a certificate issued by a CA, valid now, with the digitalSignature key usage and an "
                "extended key usage such as emailProtection (see docs/credentials.md)"
            ) from None
        finally:
            builder.close()


def _reason(exc) -> str:
    text = str(exc).strip()
    return text.split(": ", 1)[1] if text.startswith("Signature: ") else text


def _manifest(prov: Provenance | None, title: str, fmt: str) -> dict:
    from . import __version__

    agent = {"name": "vfx", "version": __version__}
    assertions: list[dict] = []
    if prov is not None:  # None: no claims
        models = [m["name"] for g in prov.generators for m in g["models"]]
        action = {
            "action": "c2pa.created",
            "digitalSourceType": prov.source_type,
            "softwareAgent": agent,
            "description": (
                f"rendered by vfx from {prov.pipeline.get('name') or 'a pipeline'}; frames generated by "
                + ", ".join(f"'{g['node']}' ({g['type']})" for g in prov.generators)
                + (f" with {', '.join(models)}" if models else "")
                + (f", composited with {', '.join(repr(s['node']) for s in prov.sources)}" if prov.sources else "")
            ),
        }
        assertions = [
            {"label": "c2pa.actions.v2", "data": {"actions": [action]}},
            {
                "label": ASSERTION,
                "data": {
                    "encoder": prov.encoder,
                    "generators": prov.generators,
                    "sources": prov.sources,
                    "pipeline": prov.pipeline,
                },
            },
        ]
    return {"claim_generator_info": [agent], "title": title, "format": fmt, "assertions": assertions}


def sign_in_place(path: Path, prov: Provenance, key: SigningKey, title: str | None = None) -> None:
    """Embed signed credentials in ``path`` (a file vfx is writing): the signed copy goes to a new
    partial beside it and replaces it only when complete; on failure ``path`` is as it was."""
    import c2pa

    from .util.atomic import partial_path

    path = Path(path)
    title = title or path.name
    fmt = mime_type(Path(title))
    dest = partial_path(path.with_name(Path(title).stem + path.suffix), unique=True)
    builder = c2pa.Builder(json.dumps(_manifest(prov, title, fmt)))
    try:
        with open(path, "rb") as src, open(dest, "w+b") as out:
            builder.sign(key.signer(), fmt, src, out)
        os.replace(dest, path)
    except c2pa.C2paError as exc:
        raise CredentialError(f"node '{prov.encoder}': cannot sign {title}: {_reason(exc)}") from None
    except OSError as exc:
        raise CredentialError(f"node '{prov.encoder}': cannot sign {title}: {exc.strerror or exc}") from None
    finally:
        builder.close()
        dest.unlink(missing_ok=True)


class Staging:
    """Signed outputs of one render: the signed encoders write into a hidden folder beside their
    output, their files are signed there, and ``commit`` moves them into place.

    Entering points each encoder's ``path`` into its staging folder; leaving without ``commit``
    (a failed render or signing) removes the folders, so nothing of the render is left.
    """

    def __init__(self, graph, provs: dict[str, Provenance], key: SigningKey):
        self.graph, self.provs, self.key = graph, provs, key
        self.stages: dict[str, AtomicDir] = {}  # encoder id -> its staging folder beside the final one

    def __enter__(self) -> "Staging":
        try:
            for enc_id in self.provs:
                opts = self.graph.nodes[enc_id].options
                stage = self.stages[enc_id] = AtomicDir(Path(opts.path).parent)
                opts.path = stage.temp / Path(opts.path).name
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def commit(self, outputs: list[Path]) -> list[Path]:
        """Sign every staged file, then move them into place; ``outputs`` (what the render
        returned) with staged paths replaced by the final ones."""
        for enc_id, stage in self.stages.items():
            for f in sorted(stage.temp.iterdir()):
                sign_in_place(f, self.provs[enc_id], self.key)
        moved: dict[Path, Path] = {}
        for stage in self.stages.values():
            temp = stage.temp
            moved.update((temp / f.name, f) for f in stage.commit())
        return [moved.get(Path(p), Path(p)) for p in outputs]

    def __exit__(self, *exc) -> None:
        for enc_id, stage in self.stages.items():
            opts = self.graph.nodes[enc_id].options
            opts.path = stage.folder / Path(opts.path).name
            stage.discard()
        self.stages = {}


# ------------------------------------------------------------------------------------ reading


@dataclass
class Report:
    """What ``read`` found in a file's credentials."""

    path: Path
    state: str  # Valid, Trusted or Invalid (c2pa's validation state)
    problems: list[str]  # failures other than an unchecked trust list
    untrusted: bool  # the signer does not chain to a given (or any known) trust anchor
    manifest: dict
    store: dict

    @property
    def ok(self) -> bool:
        return self.state != "Invalid" and not self.problems

    def source_type(self) -> str | None:
        """The digital source type of the first action that names one."""
        for action in self.actions():
            if action.get("digitalSourceType"):
                return action["digitalSourceType"]
        return None

    def actions(self) -> list[dict]:
        out = []
        for a in self.manifest.get("assertions", []):
            if a.get("label", "").split(".v")[0] == "c2pa.actions":
                out.extend(a.get("data", {}).get("actions", []))
        return out

    def render(self) -> dict | None:
        """vfx's own assertion (generators, models, sources, pipeline), if present."""
        for a in self.manifest.get("assertions", []):
            if a.get("label") == ASSERTION:
                return a.get("data")
        return None


def read(path: Path, trust: Path | None = None) -> Report:
    """Read and validate the C2PA manifest of ``path`` (against the CA certificates in ``trust``
    when given); ``CredentialError`` when the file carries none or c2pa cannot read its format."""
    import c2pa

    path = Path(path)
    fmt = mime_type(path)
    if fmt not in set(c2pa.Reader.get_supported_mime_types()):
        raise CredentialError(
            f"{path}: c2pa cannot read {path.suffix or 'extension-less'} files, so it carries no content credentials"
        )
    context = None
    if trust is not None:
        try:
            anchors = Path(trust).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialError(f"--trust {trust}: cannot read it ({exc})") from None
        context = c2pa.Context.from_dict({"trust": {"trust_anchors": anchors}})
    try:
        with open(path, "rb") as f:
            reader = c2pa.Reader(fmt, f, context=context) if context is not None else c2pa.Reader(fmt, f)
            try:
                store = json.loads(reader.json())
                state = reader.get_validation_state() or "Invalid"
                manifest = reader.get_active_manifest() or {}
            finally:
                reader.close()
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc):
            raise CredentialError(f"{path} carries no content credentials (no C2PA manifest)") from None
        raise CredentialError(f"{path}: its content credentials cannot be read ({_reason(exc)})") from None
    except OSError as exc:
        raise CredentialError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    failures = store.get("validation_results", {}).get("activeManifest", {}).get("failure", [])
    untrusted = any(f.get("code") == "signingCredential.untrusted" for f in failures)
    problems = [
        f"{f.get('code')}: {f.get('explanation', '')}".rstrip(": ")
        for f in failures
        if f.get("code") != "signingCredential.untrusted" or trust is not None
    ]
    return Report(path, state, problems, untrusted, manifest, store)


__all__ = [
    "COMPOSITE",
    "TRAINED",
    "CredentialError",
    "Provenance",
    "Report",
    "SigningKey",
    "Staging",
    "check_signable",
    "generated_outputs",
    "provenance",
    "read",
    "sign_in_place",
]
