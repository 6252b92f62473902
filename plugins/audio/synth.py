"""``source.synth``: a seeded drum machine with bass and pad, so pipelines have music without media."""

from __future__ import annotations

import math
import threading

import numpy as np

import vfx
from vfx import AudioBuffer, AudioInfo, fit_channels, opt, samples_at

NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
#: chord roots (scale degrees, semitones above the key) of the four-bar progressions
PROGRESSIONS = {
    "minor": [(0, 8, 3, 10), (0, 5, 8, 7), (0, 3, 8, 10)],
    "major": [(0, 7, 9, 5), (0, 5, 7, 5), (0, 9, 5, 7)],
}
_TAIL = 1.2  # seconds a bar's sounds may ring into the next bars


class StepPattern(opt.Option):
    """A drum pattern: a string of steps, ``x`` (hit), ``o`` or ``X`` (accent), ``.`` or ``-`` (rest);
    spaces and ``|`` are ignored."""

    type_name = "step pattern"

    def parse(self, value, ctx):
        if not isinstance(value, str):
            raise ValueError(f'expected a pattern string such as "x...x...x...x...", got {value!r}')
        steps = value.replace(" ", "").replace("|", "")
        bad = set(steps) - set("xXo.-")
        if bad:
            raise ValueError(f"a pattern uses x (hit), o (accent) and . (rest); got {''.join(sorted(bad))!r}")
        if not 1 <= len(steps) <= 64:
            raise ValueError(f"a pattern has 1 to 64 steps, got {len(steps)}")
        return steps


class Synth(vfx.Source):
    """Seeded music made on the fly: kick, snare and hi-hat patterns at a tempo, a bass line and a pad.

    One bar is four beats at ``bpm``; a pattern's steps divide the bar evenly (16 steps: sixteenth
    notes). ``x`` is a hit, ``o`` an accented hit, ``.`` a rest. The kick is a sine swept from 155 Hz
    down to 45 Hz with a short click; the snare a 185 Hz tone and high-passed noise; the hat
    differentiated noise with a seeded velocity per hit. The bass plays the root of the bar's chord
    (a four-bar progression in ``key`` / ``scale``, picked by the seed) on the ``bass`` pattern, a
    low-passed sawtooth; the pad holds the bar's triad (three detuned saws per note, spread left and
    right) with a slow attack. Levels are in dB; ``-96`` mutes a part. Every bar is synthesised on its
    own from (pipeline seed, node id, bar), so any range of samples renders alone exactly as in a
    whole render. Stereo or mono follows the pipeline's ``channels``.
    """

    type = "source.synth"
    needs_torch = False

    class Options(vfx.Options):
        bpm = opt.Float(120.0, min=30.0, max=300.0, animate=False, doc="tempo in beats per minute")
        duration = opt.Time(None, min_frames=1, doc="length (default: the pipeline duration)")
        kick = StepPattern("x...x...x...x...", doc="kick pattern over one bar")
        snare = StepPattern("....x.......x...", doc="snare pattern over one bar")
        hat = StepPattern("..x...x...x...x.", doc="hi-hat pattern over one bar")
        bass = StepPattern("x..x..x.x..x..x.", doc="bass pattern over one bar (the chord root)")
        key = opt.Choice("A", choices=NOTES, doc="key of the bass and pad")
        scale = opt.Choice("minor", choices=("minor", "major"), doc="chord progression flavour")
        kick_level = opt.Float(-7.0, min=-96.0, max=6.0, animate=False, doc="kick level, dB")
        snare_level = opt.Float(-12.0, min=-96.0, max=6.0, animate=False, doc="snare level, dB")
        hat_level = opt.Float(-20.0, min=-96.0, max=6.0, animate=False, doc="hi-hat level, dB")
        bass_level = opt.Float(-15.0, min=-96.0, max=6.0, animate=False, doc="bass level, dB")
        pad_level = opt.Float(-24.0, min=-96.0, max=6.0, animate=False, doc="pad level, dB")

    def configure(self):
        s = self.ctx.settings
        o = self.options
        frames = o.duration or s.duration
        from .audio import check_frame_audio

        check_frame_audio(self)
        self.audio = AudioInfo(s.sample_rate, s.channels, samples_at(frames, s.fps, s.sample_rate))
        self._bar = 4 * 60.0 / o.bpm * s.sample_rate  # samples per bar (fractional)
        self._tail = int(_TAIL * s.sample_rate)
        rng = np.random.default_rng(self.ctx.seed_for(0, "progression"))
        self._progression = PROGRESSIONS[o.scale][int(rng.integers(len(PROGRESSIONS[o.scale])))]
        self._root = 440.0 * 2 ** ((NOTES.index(o.key) - 9) / 12)  # the key's A4-octave frequency
        self._cache = vfx.LRU(8)
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- instruments
    def _kick(self, n, rate):
        t = np.arange(n) / rate
        phase = 2 * np.pi * (45.0 * t + 110.0 * 0.035 * (1 - np.exp(-t / 0.035)))
        body = np.sin(phase) * np.exp(-t / 0.28)
        click = np.exp(-t / 0.0015) * 0.6
        return (body + click) * np.minimum(1.0, t / 0.0008 + 0.2)

    def _snare(self, n, rate, rng):
        t = np.arange(n) / rate
        tone = np.sin(2 * np.pi * 185.0 * t) * np.exp(-t / 0.07) * 0.55
        noise = rng.standard_normal(n)
        noise = np.diff(noise, prepend=0.0) * 0.5 * np.exp(-t / 0.11)
        return tone + noise

    def _hat(self, n, rate, rng):
        t = np.arange(n) / rate
        noise = rng.standard_normal(n + 2)
        hp = noise[2:] - 2 * noise[1:-1] + noise[:-2]
        return hp * 0.25 * np.exp(-t / 0.022)

    @staticmethod
    def _saw(freq, t, phase0=0.0):
        x = freq * t + phase0
        return 2.0 * (x - np.floor(x + 0.5))

    def _bass(self, n, rate, freq, length):
        from scipy.signal import lfilter

        t = np.arange(n) / rate
        env = np.minimum(1.0, t / 0.004) * (0.6 + 0.4 * np.exp(-t / 0.08))
        env *= np.clip((length / rate - t) / 0.02, 0.0, 1.0)
        wave = self._saw(freq, t) + 0.5 * np.sin(2 * np.pi * freq * t)
        cut = 1 - math.exp(-2 * math.pi * 400.0 / rate)  # one-pole low-pass at ~400 Hz
        return lfilter([cut], [1, cut - 1], wave) * env

    def _pad(self, n, rate, freqs, length, rng):
        from scipy.signal import butter, lfilter

        t = np.arange(n) / rate
        env = np.minimum(1.0, t / 0.35) * np.clip((length / rate + 0.5 - t) / 0.5, 0.0, 1.0)
        left = np.zeros(n)
        right = np.zeros(n)
        for f in freqs:
            for k, cents in enumerate((-7.0, 0.0, 7.0)):
                v = self._saw(f * 2 ** (cents / 1200), t, rng.uniform())
                if k == 0:
                    left += v
                elif k == 2:
                    right += v
                else:
                    left += 0.5 * v
                    right += 0.5 * v
        b, a = butter(2, 1500.0 / (rate / 2))
        return np.stack([lfilter(b, a, left), lfilter(b, a, right)]) * env / (len(freqs) * 2)

    # ---------------------------------------------------------------- bars
    def _bar_audio(self, bar: int) -> np.ndarray:
        """Bar ``bar`` with its tail: (2, bar length + tail) float64, from the bar's first sample."""
        hit = self._cache.get(bar)
        if hit is not None:
            return hit
        o = self.options
        rate = self.ctx.settings.sample_rate
        b0 = int(round(bar * self._bar))
        length = int(round((bar + 1) * self._bar)) - b0
        out = np.zeros((2, length + self._tail))
        g = {k: 10 ** (getattr(o, f"{k}_level") / 20) for k in ("kick", "snare", "hat", "bass", "pad")}
        chord = self._progression[bar % 4]
        root = self._root * 2 ** (chord / 12)
        for part, pattern in (("kick", o.kick), ("snare", o.snare), ("hat", o.hat), ("bass", o.bass)):
            if g[part] < 1e-4:
                continue
            step = length / len(pattern)
            hits = [k for k, c in enumerate(pattern) if c in "xXo"]
            for j, k in enumerate(hits):
                at = int(round(k * step))
                rng = np.random.default_rng(self.ctx.seed_for(bar, f"{part}{k}"))
                accent = 1.0 if pattern[k] in "oX" else 0.75
                n = min(out.shape[1] - at, int(0.6 * rate))
                if part == "kick":
                    sound = self._kick(n, rate) * accent
                elif part == "snare":
                    sound = self._snare(n, rate, rng) * accent
                elif part == "hat":
                    sound = self._hat(n, rate, rng) * accent * rng.uniform(0.6, 1.0)
                else:
                    nxt = hits[j + 1] if j + 1 < len(hits) else len(pattern)
                    note = int(round((nxt - k) * step * 0.9))
                    n = min(out.shape[1] - at, note + int(0.03 * rate))
                    sound = self._bass(n, rate, root / 4, note) * accent
                pan = 0.5 if part != "hat" else 0.5 + 0.2 * math.sin(k)
                out[0, at : at + n] += sound * g[part] * math.sqrt(2 * (1 - pan))
                out[1, at : at + n] += sound * g[part] * math.sqrt(2 * pan)
        if g["pad"] >= 1e-4:
            minor_triads = (0, 5, 7) if self.options.scale == "minor" else (2, 4, 9)  # degrees
            third = 3 if chord in minor_triads else 4
            freqs = [root / 2, root / 2 * 2 ** (third / 12), root / 2 * 2 ** (7 / 12)]
            rng = np.random.default_rng(self.ctx.seed_for(bar, "pad"))
            n = min(out.shape[1], length + int(0.5 * rate))
            out[:, :n] += self._pad(n, rate, freqs, length, rng) * g["pad"]
        return self._cache.put(bar, out)

    def render_audio(self, start, count):
        s = self.ctx.settings
        out = np.zeros((2, max(0, count)))
        end = min(start + count, self.audio.sample_count)
        if end > start:
            first = max(0, math.floor((start - self._tail) / self._bar))
            last = math.floor((end - 1) / self._bar)
            with self._lock:
                for bar in range(first, last + 1):
                    b0 = int(round(bar * self._bar))
                    data = self._bar_audio(bar)
                    lo, hi = max(start, b0), min(end, b0 + data.shape[1])
                    if hi > lo:
                        out[:, lo - start : hi - start] += data[:, lo - b0 : hi - b0]
        return AudioBuffer(fit_channels(out.astype(np.float32), s.channels), s.sample_rate)
