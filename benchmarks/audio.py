"""Speed of the audio analysis behind ``signal.audio`` on a 3-minute track, and of the audio nodes.

The track is ``source.synth`` music (120 BPM, stereo, 48 kHz: 8.64 M samples per channel), made
once in memory. Then, in one process, medians over ``--repeat`` runs of:

- ``audio_dsp.analyse`` on the mono mix: STFT levels and bands, spectral flux, onsets, tempo and
  the dynamic-programming beat tracker (what ``signal.audio`` computes once per track), and its
  parts one by one;
- the whole ``signal.audio`` node on first use (decoding the track from a WAV file, analysing,
  smoothing and sampling every signal at 24 fps);
- ``audio.mix`` with its limiter over the 3 minutes (per-sample gains and the limiter's ramps);
- a cold start: a fresh Python process importing SciPy and analysing the track (what a
  one-off ``vfx render`` pays the first time).

Writes ``benchmarks/results/audio.md``.

    .venv/bin/python benchmarks/audio.py [--repeat 5] [--seconds 180]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "audio.md"


def pipeline(folder: Path, seconds: int) -> Path:
    path = folder / "audio_bench.toml"
    path.write_text(
        textwrap.dedent(f"""
        [pipeline]
        width = 64
        height = 36
        fps = 24
        duration = "{seconds}s"
        seed = 1
        [nodes.music]
        type = "source.synth"
        bpm = 120
        [nodes.mix]
        type = "audio.mix"
        inputs = ["music", {{ input = "music", gain = {{ expr = "-6 + 3 * sin(t)" }} }}]
        threshold = -3.0
        [nodes.track]
        type = "source.audio"
        path = "track.wav"
        [nodes.sig]
        type = "signal.audio"
        input = "track"
    """).lstrip()
    )
    return path


def pipeline_without_track(folder: Path, seconds: int) -> Path:
    text = pipeline(folder, seconds).read_text()
    path = folder / "synth_only.toml"
    path.write_text(text.split("[nodes.mix]")[0])
    return path


def write_wav(path: Path, stereo: np.ndarray, rate: int = 48000) -> None:
    """16-bit PCM WAV through PyAV."""
    import av

    data = (np.clip(stereo, -1, 1) * 32767).round().astype(np.int16)
    with av.open(str(path), "w") as out:
        s = out.add_stream("pcm_s16le", rate=rate)
        s.layout = "stereo"
        for pos in range(0, data.shape[1], 48000):
            chunk = np.ascontiguousarray(data[:, pos : pos + 48000].T.reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
            frame.sample_rate, frame.pts = rate, pos
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


COLD = """
import sys, time, numpy as np
t0 = time.perf_counter()
sys.path.insert(0, {plugins!r})
import audio_dsp
import scipy.fft, scipy.ndimage, scipy.signal
x = np.load({npy!r})
t1 = time.perf_counter()
a = audio_dsp.analyse(x, 48000)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=180)
    args = ap.parse_args()

    from vfx.engine import configure_threads
    from vfx.graph import build_for_preview
    from vfx.pipeline import load
    from vfx_plugins.audio import audio_dsp

    configure_threads("cpu")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        first = build_for_preview(load(pipeline_without_track(tmp, args.seconds)))
        music = first.nodes["music"]
        n = music.audio.sample_count
        t = time.perf_counter()
        stereo = music.audio_samples(0, n).samples
        synth_s = time.perf_counter() - t
        mono = stereo.mean(axis=0)
        write_wav(tmp / "track.wav", stereo)
        graph = build_for_preview(load(pipeline(tmp, args.seconds)))
        mix, sig = graph.nodes["mix"], graph.nodes["sig"]
        audio_dsp.analyse(mono[:48000], 48000)  # imports and first-call set-up, not timed
        rate = 48000

        analyse_s, result = median_time(lambda: audio_dsp.analyse(mono, rate), args.repeat)
        stft_s, (times, rms, bands, flux, hop) = median_time(
            lambda: audio_dsp.stft_levels(mono, rate, [200.0, 2000.0]), args.repeat
        )
        hop_rate = rate / hop
        onset_s, _ = median_time(lambda: audio_dsp.pick_onsets(flux, hop_rate), args.repeat)
        tempo_s, bpm = median_time(lambda: audio_dsp.estimate_tempo(flux, hop_rate), args.repeat)
        beats_s, beats = median_time(lambda: audio_dsp.track_beats(flux, hop_rate, bpm), args.repeat)
        follow_s, _ = median_time(lambda: audio_dsp.follow(rms, hop_rate, 0.01, 0.2), args.repeat)

        def node_first_use():
            sig._result = None
            return sig.analysis()

        node_s, table = median_time(node_first_use, args.repeat)
        mix_s, _ = median_time(lambda: mix.audio_samples(0, n), max(1, args.repeat // 2))

        npy = tmp / "mono.npy"
        np.save(npy, mono)
        code = COLD.format(plugins=str(ROOT / "plugins" / "audio"), npy=str(npy))
        env = dict(os.environ, OMP_NUM_THREADS="1")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        cold_import_s, cold_analyse_s = map(float, out.stdout.split())
        graph.close()
        first.close()

    beat_frames = sig.event_frames("beat")
    expected = args.seconds * 2
    rows = [
        ("whole analysis (`audio_dsp.analyse`)", analyse_s),
        ("  STFT levels, bands and spectral flux", stft_s),
        ("  onset picking", onset_s),
        ("  tempo (autocorrelation)", tempo_s),
        ("  beat tracking (dynamic programming)", beats_s),
        ("  one envelope follower (attack/release)", follow_s),
        ("`signal.audio` node, first use (decoding the WAV, analysis, 11 signals at 24 fps)", node_s),
        ("cold process: first analysis after importing SciPy", cold_analyse_s),
        ("cold process: imports (NumPy, SciPy fft/ndimage/signal) and loading the samples", cold_import_s),
        ("`audio.mix` of the 3 minutes with the limiter (its two inputs, both the synth, synthesised anew)", mix_s),
        ("`source.synth`: synthesising the 3 minutes", synth_s),
    ]
    minutes = args.seconds / 60
    lines = [
        "# Audio analysis speed",
        "",
        f"`.venv/bin/python benchmarks/audio.py --repeat {args.repeat} --seconds {args.seconds}` on "
        f"{platform.machine()} with {os.cpu_count()} cores (shared with other jobs: medians of "
        f"{args.repeat} runs), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Track: {args.seconds} s of `source.synth` at 120 BPM, stereo 48 kHz ({n:,} samples per "
        f"channel), analysed as a mono mix. Found: tempo {bpm:.2f} BPM, {len(beats)} beats "
        f"({len(beat_frames)} beat frames at 24 fps; {expected} expected), "
        f"{len(result.onsets)} onsets.",
        "",
        "| step | seconds | per minute of audio |",
        "| --- | ---: | ---: |",
    ]
    for name, secs in rows:
        lines.append(f"| {name} | {secs:.3f} | {secs / minutes:.3f} |")
    lines += [
        "",
        f"The analysis of a {args.seconds / 60:.0f}-minute track takes {analyse_s:.2f} s "
        f"({args.seconds / analyse_s:.0f}x real time). It runs once per `signal.audio` node and is "
        "cached by the node, so drivers and events then cost a table lookup per frame.",
        "",
    ]
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
