"""Audio nodes: audio files, a mixer with a look-ahead limiter, audio analysis as drivers and
events, an audio visualiser and a drum machine with bass and pad (``plugins/audio/synth.py``).

All audio in the graph is float32 at the pipeline's ``sample_rate`` and ``channels``; sample ``n``
of a node is at ``n / sample_rate`` seconds on its timeline, and video frame ``i`` starts at sample
``samples_at(i)``. Every node here answers any sample range on its own, exactly as in a whole
render (no state carried from one call to the next), so chunks, previews and farm slices agree.
"""

from __future__ import annotations

import math
import threading

import numpy as np

import vfx
from vfx import AudioBuffer, AudioInfo, ConfigureError, FrameBatch, StreamInfo, fit_channels, opt, samples_at
from vfx.ops.curves import rising_frames

from . import audio_dsp

# ----------------------------------------------------------------------------- helpers
#: the longest frame (1 / fps), seconds, of a pipeline with audio: audio is pulled a batch of frames
#: at a time, so a frame's audio must fit in memory many times over
MAX_FRAME_SECONDS = 10
#: the most seconds of audio a batch of frames may carry: nodes with audio cap the batch size
MAX_BATCH_SECONDS = 60


def check_frame_audio(node: vfx.Node) -> None:
    """Refuse a frame rate whose frames last more than ``MAX_FRAME_SECONDS`` (``ConfigureError``) and cap
    ``node.max_batch`` so that a batch carries at most ``MAX_BATCH_SECONDS`` of audio."""
    fps = node.ctx.settings.fps
    if 1 / fps > MAX_FRAME_SECONDS:
        raise ConfigureError(
            f"the pipeline's fps = {fps} makes a frame last {float(1 / fps):g} s; with audio a "
            f"frame may last at most {MAX_FRAME_SECONDS} s (fps >= 1/{MAX_FRAME_SECONDS}): raise "
            "[pipeline] fps, or render without this audio node"
        )
    node.max_batch = max(1, min(node.max_batch or 4096, math.floor(MAX_BATCH_SECONDS * fps)))


def read_clamped(node: vfx.Node, start: int, count: int, channels: int) -> np.ndarray:
    """``count`` samples of ``node`` from ``start`` (which may be negative): silence outside
    ``[0, sample_count)``, so a node is never asked for samples it does not have."""
    out = np.zeros((channels, max(0, count)), np.float32)
    lo, hi = max(0, start), min(start + count, node.audio.sample_count)
    if hi > lo:
        part = node.audio_samples(lo, hi - lo).samples
        out[:, lo - start : hi - start] = fit_channels(part, channels)[:, : hi - lo]
    return out


def db_to_gain(db):
    """Decibels to linear amplitude (float64)."""
    return np.power(10.0, np.asarray(db, np.float64) / 20.0)


def gain_curve(node: vfx.Node, value, start: int, count: int):
    """Linear gain per sample for a dB option ``value`` (a constant or an ``Animated``) over
    samples ``[start, start + count)``: evaluated at frame starts, interpolated in dB between them."""
    if not isinstance(value, vfx.Animated):
        return float(db_to_gain(value))
    s = node.ctx.settings
    fps, rate = s.fps, s.sample_rate
    f0 = math.floor(max(0, start) * fps / rate)
    f1 = math.floor(max(0, start + count) * fps / rate) + 2
    frames = np.arange(f0, f1 + 1)
    db = value.evaluate(frames, fps)
    at = np.array([samples_at(int(f), fps, rate) for f in frames], np.float64)
    pos = np.arange(start, start + count, dtype=np.float64)
    return db_to_gain(np.interp(pos, at, db))[None, :]


def mono_of(samples: np.ndarray) -> np.ndarray:
    """The mean of the channels of a (channels, n) buffer."""
    return samples.mean(axis=0) if samples.shape[0] > 1 else samples[0]


# ----------------------------------------------------------------------------- source.audio
class AudioSource(vfx.Source):
    """An audio file (WAV, FLAC, MP3, AAC/M4A, Ogg Vorbis/Opus, or the audio track of a video file)
    decoded by PyAV and resampled to the pipeline's sample rate and channel layout.

    The clip is placed on the timeline at ``offset``; it plays the file from ``in_point`` for
    ``duration`` (default: to the file's end, or with ``loop`` to the end of the pipeline), starting
    over at ``in_point`` when the file ends if ``loop`` is on. ``gain`` (dB, animatable: keyframes,
    expressions and drivers work) is applied per sample, interpolated between frames; ``fade_in``
    and ``fade_out`` are linear ramps at the clip's start and end. Before ``offset`` and after the
    clip the node gives silence. Decoding streams: memory does not grow with the file.
    """

    type = "source.audio"
    needs_torch = False

    class Options(vfx.Options):
        path = opt.InputPath(doc="the audio (or video) file, relative to the pipeline file")
        gain = opt.Float(0.0, min=-96.0, max=24.0, doc="level change in dB (animatable)")
        offset = opt.Time(0, doc="where the clip starts on the timeline")
        in_point = opt.Time(0, doc="where in the file playing starts")
        duration = opt.Time(
            None,
            min_frames=1,
            doc="length on the timeline (default: the rest of the file; with loop, to the pipeline's end)",
        )
        loop = opt.Bool(False, doc="start the file over (from in_point) when it ends")
        fade_in = opt.Time(0, doc="length of the linear fade-in at the clip's start")
        fade_out = opt.Time(0, doc="length of the linear fade-out at the clip's end")

    def configure(self):
        from vfx.media import probe

        o = self.options
        s = self.ctx.settings
        check_frame_audio(self)
        try:
            info = probe(o.path, count_frames=False)
        except vfx.MediaError as exc:
            raise ConfigureError(str(exc), option="path") from None
        if info.audio is None:
            raise ConfigureError(f"{o.path} has no audio stream", option="path")
        rate = s.sample_rate
        self._file_samples = int(round(info.audio.duration * rate))
        self._in = samples_at(o.in_point, s.fps, rate)
        if self._file_samples <= 0:
            raise ConfigureError(f"{o.path}: the audio stream is empty (or its length is unknown)", option="path")
        if self._in >= self._file_samples:
            raise ConfigureError(
                f"in_point {o.in_point} frames is at or past the end of {o.path.name} ({info.audio.duration:.3f} s)",
                option="in_point",
            )
        self._offset = samples_at(o.offset, s.fps, rate)
        if o.duration is not None:
            length = samples_at(o.offset + o.duration, s.fps, rate) - self._offset
        elif o.loop:
            if o.offset >= s.duration:
                raise ConfigureError(
                    f"offset {o.offset} is past the pipeline's {s.duration} frames; give a duration for a looping clip",
                    option="offset",
                )
            length = samples_at(s.duration, s.fps, rate) - self._offset
        else:
            length = self._file_samples - self._in
        if not o.loop:
            length = min(length, self._file_samples - self._in)
        self._length = length
        self._fade_in = samples_at(o.fade_in, s.fps, rate)
        self._fade_out = samples_at(o.fade_out, s.fps, rate)
        if self._fade_in + self._fade_out > length:
            raise ConfigureError(
                f"fade_in + fade_out ({o.fade_in + o.fade_out} frames) are longer than the clip "
                f"({length / rate:.3f} s)",
                option="fade_out",
            )
        self.audio = AudioInfo(rate, s.channels, self._offset + length)
        self._reader = None
        self._lock = threading.Lock()

    def input_files(self):
        return [self.options.path]

    def open(self):
        from vfx.media import AudioReader

        if self._reader is None:
            self._reader = AudioReader(self.options.path, self.audio.sample_rate, self.audio.channels)

    def close(self):
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _read_file(self, pos: int, count: int) -> np.ndarray:
        """``count`` samples of the clip from clip position ``pos`` (looping as configured)."""
        out = np.zeros((self.audio.channels, count), np.float32)
        span = self._file_samples - self._in
        done = 0
        while done < count:
            p = pos + done
            if self.options.loop:
                p %= span
            if p >= span:
                break
            n = min(count - done, span - p)
            try:
                out[:, done : done + n] = self._reader.read(self._in + p, n)
            except vfx.MediaError:
                raise
            except Exception as exc:
                raise vfx.MediaError(f"{self.options.path}: decoding failed: {exc}") from None
            done += n
        return out

    def render_audio(self, start, count):
        with self._lock:
            self.open()
            out = np.zeros((self.audio.channels, max(0, count)), np.float32)
            lo = max(start, self._offset)
            hi = min(start + count, self._offset + self._length)
            if hi <= lo:
                return AudioBuffer(out, self.audio.sample_rate)
            data = self._read_file(lo - self._offset, hi - lo)
        pos = np.arange(lo - self._offset, hi - self._offset, dtype=np.float64)
        env = np.ones(hi - lo)
        if self._fade_in > 0:
            env = np.minimum(env, pos / self._fade_in)
        if self._fade_out > 0:
            env = np.minimum(env, (self._length - pos) / self._fade_out)
        gain = gain_curve(self, self.options.gain, lo, hi - lo)
        out[:, lo - start : hi - start] = data * (np.clip(env, 0, 1)[None, :] * gain)
        return AudioBuffer(out, self.audio.sample_rate)


# ----------------------------------------------------------------------------- audio.mix
class Track(vfx.Options):
    """One input of a mix."""

    input = opt.Input(kind="audio", doc="a node with audio (an audio source, a video file, another mix, ...)")
    gain = opt.Float(0.0, min=-96.0, max=24.0, doc="level of this input in dB (animatable)")


class Mix(vfx.AudioNode):
    """Any number of audio inputs summed, each at its own gain, through a look-ahead peak limiter.

    Inputs are node ids or tables ``{ input = "id", gain = -6 }``; any node with audio counts
    (``source.audio``, ``source.synth``, a ``source.video`` file's own track, editors, another
    mix). ``gain`` (dB, animatable) is per input, ``master`` after the sum.

    **Limiter.** With ``limit = true`` the sum never exceeds ``threshold`` dBFS: for every sample the
    gain needed to bring its peak (the loudest channel, so the stereo image holds) down to the
    threshold is found, and the applied gain is the lower envelope of ramps around those needs: it
    starts falling up to ``attack`` ms ahead of a peak (the look-ahead; a fall from 1 to 0 takes
    ``attack``) and recovers after it at most 1 per ``release`` ms. Below the threshold the sum
    passes unchanged. Each output sample depends only on the input from ``release`` before to
    ``attack`` after it, so any range renders exactly as in a whole render.
    """

    type = "audio.mix"

    class Options(vfx.Options):
        inputs = opt.Table(Track, shorthand="input", doc="the inputs: node ids or tables {input, gain}")
        master = opt.Float(0.0, min=-96.0, max=24.0, doc="level of the sum in dB, before the limiter (animatable)")
        limit = opt.Bool(True, doc="run the sum through the look-ahead peak limiter")
        threshold = opt.Float(-1.0, min=-60.0, max=0.0, animate=False, doc="limiter ceiling in dBFS")
        attack = opt.Float(5.0, min=0.1, max=200.0, animate=False, doc="limiter look-ahead / attack in ms")
        release = opt.Float(150.0, min=1.0, max=5000.0, animate=False, doc="limiter release in ms")
        duration = opt.Time(None, min_frames=1, doc="length (default: the longest input)")

    def configure(self):
        s = self.ctx.settings
        check_frame_audio(self)
        self._tracks = [(entry, self.input(entry.input, ref=True)) for entry in self.options.inputs]
        if self.options.duration is not None:
            count = samples_at(self.options.duration, s.fps, s.sample_rate)
        else:
            count = max(n.audio.sample_count for _, n in self._tracks)
        self.audio = AudioInfo(s.sample_rate, s.channels, count)
        self._attack = max(1, int(round(self.options.attack / 1000 * s.sample_rate)))
        self._release = max(1, int(round(self.options.release / 1000 * s.sample_rate)))
        self._threshold = float(db_to_gain(self.options.threshold))

    def _sum(self, start: int, count: int) -> np.ndarray:
        ch = self.audio.channels
        total = np.zeros((ch, count), np.float64)
        for entry, node in self._tracks:
            data = read_clamped(node, start, count, ch)
            total += data * gain_curve(self, entry.gain, start, count)
        total *= gain_curve(self, self.options.master, start, count)
        return total

    def render_audio(self, start, count):
        s = self.ctx.settings
        if not self.options.limit:
            out = self._sum(start, count)
        else:
            a, r = self._attack, self._release
            ext = self._sum(start - r, count + r + a)
            gain = audio_dsp.limiter_gain(np.abs(ext).max(axis=0), self._threshold, a, r, origin=start - r)
            out = (ext * gain)[:, r : r + count]
        end = self.audio.sample_count - start
        if end < count:
            out[:, max(0, end) :] = 0
        return AudioBuffer(out.astype(np.float32), s.sample_rate)


# ----------------------------------------------------------------------------- signal.audio
LEVELS = ("rms", "low", "mid", "high", "onset_strength")


class AudioSignal(vfx.Signal):
    """Audio analysis as drivers and events: levels, frequency bands, onsets, tempo and beats.

    The track of ``input`` is analysed in windows of ``window`` seconds (default 300: a track up
    to five minutes is analysed whole), each on its own, on first use (the last two are cached),
    so any frame can be asked for in any order and a frame range gives the same values as a
    whole render: a frame's values depend only on the audio of its window, never on how long the
    timeline is. A window costs about ``8 * sample_rate`` bytes per second of it (its mono mix
    and the analysis' padded copy: 115 MB for 300 s at 48 kHz) and is analysed once. Normalising,
    the tempo estimate and the beat tracking are per window, so with a track longer than one
    window levels and beats may step at a window's start, and an event within half a frame of a
    window's end is dropped. See ``plugins/audio/audio_dsp.py`` for the method: an STFT of about 21 ms,
    spectral flux onsets, an autocorrelation tempo estimate and Ellis's dynamic-programming beat
    tracker.

    **Level signals** (continuous, mapped to ``min`` .. ``max``): ``rms`` (broadband level),
    ``low``, ``mid``, ``high`` (RMS below ``bands[0]`` Hz, between, above ``bands[1]`` Hz),
    ``onset_strength`` (the spectral flux) and ``pulse`` (1 at each beat, decaying with ``release``).
    Levels follow the audio with ``attack`` / ``release`` time constants (a one-pole envelope
    follower), are divided by their loudest value over the window (``normalize``) so that they span
    0..1, and are read at the start of each frame.

    **Events** (1.0 on the frame of the event, else 0.0; not mapped): ``onset``, ``beat`` and
    ``gate`` (1 while ``gate_signal`` is at or above ``gate_level``, on the 0..1 scale; on the raw RMS
    scale with ``normalize = false``). An event
    lands on the frame whose start is nearest to it. Lightning and explosions strike on events with
    ``trigger = { driver = "<this node>", signal = "beat" }`` (a strike starts where the trigger
    crosses 0.5 upwards); a threshold crossing of any level is
    ``trigger = { driver = "<this node>", signal = "low", scale = 1.0, offset = -0.3 }`` and the like.

    **Timing signals**: ``beat_phase`` (0 at each beat rising to 1 at the next; extrapolated with
    the period before the first and after the last beat of a window, past the end of the audio
    too) and ``tempo`` (the estimated or given BPM of the window, on every frame).
    """

    type = "signal.audio"
    needs_torch = False
    signals = ("rms", "low", "mid", "high", "onset_strength", "pulse", "onset", "beat", "gate", "beat_phase", "tempo")

    class Options(vfx.Options):
        input = opt.Input(kind="audio", doc="the audio to analyse (any node with audio)")
        bands = opt.Vec([200.0, 2000.0], length=2, min=1.0, animate=False, doc="[low/mid, mid/high] band edges in Hz")
        attack = opt.Float(0.01, min=0.0, max=10.0, animate=False, doc="rise time constant of the levels, seconds")
        release = opt.Float(
            0.2, min=0.0, max=10.0, animate=False, doc="fall time constant of the levels and of pulse, seconds"
        )
        min = opt.Float(0.0, animate=False, doc="value of a level signal at silence")
        max = opt.Float(1.0, animate=False, doc="value of a level signal at its loudest")
        normalize = opt.Bool(
            True, doc="divide each level by its maximum over the window (else RMS, 0.707 for a full-scale sine)"
        )
        window = opt.Float(
            300.0,
            min=10.0,
            max=3600.0,
            animate=False,
            doc="seconds of audio analysed together; a longer track is analysed window by window",
        )
        onset_threshold = opt.Float(
            0.1,
            min=0.0,
            max=1.0,
            animate=False,
            doc="how far (0..1 of the strongest) the flux must rise above its local mean to count as an onset",
        )
        onset_gap = opt.Float(0.1, min=0.0, max=5.0, animate=False, doc="shortest time between onsets, seconds")
        bpm = opt.Float(None, min=20.0, max=400.0, animate=False, doc="the tempo if known (else estimated)")
        bpm_range = opt.Vec(
            [60.0, 200.0], length=2, min=20.0, animate=False, doc="[slowest, fastest] tempo the estimate may find, BPM"
        )
        tightness = opt.Float(
            100.0, min=0.0, max=10000.0, animate=False, doc="how strictly beats keep the tempo (Ellis's alpha)"
        )
        gate_signal = opt.Choice("rms", choices=LEVELS, doc="the level the gate event watches")
        gate_level = opt.Float(
            0.5, min=0.0, max=1.0, animate=False, doc="gate threshold on the 0..1 (normalised) scale of gate_signal"
        )

    def configure(self):
        o = self.options
        lo, hi = o.bands
        s = self.ctx.settings
        if not lo < hi < s.sample_rate / 2:
            raise ConfigureError(
                f"bands must be [low, high] with low < high < {s.sample_rate // 2} Hz (half the "
                f"sample rate), got {list(o.bands)}",
                option="bands",
            )
        if not o.bpm_range[0] < o.bpm_range[1]:
            raise ConfigureError(f"bpm_range must be [slowest, fastest], got {list(o.bpm_range)}", option="bpm_range")
        check_frame_audio(self)
        self._frames = math.ceil(self.input("input").audio.sample_count * s.fps / s.sample_rate)
        self._window = max(1, round(o.window * s.fps))  # frames a window owns
        self._result = None  # analysed windows by index, newest last
        self._lock = threading.Lock()

    # the analysis, a window at a time -------------------------------------------------------------
    def _windows(self) -> int:
        return max(1, -(-self._frames // self._window))

    def analysis(self, window: int = 0) -> dict:
        """Per-frame arrays of every signal over the frames of ``window`` (computed on first use),
        with ``"first"`` (its first frame) and ``"grid"`` (beat frames, period in frames, BPM)."""
        with self._lock:
            if self._result is None:
                self._result = vfx.LRU(2)
            if window not in self._result:
                return self._result.put(window, self._analyse(window))
            return self._result.get(window)

    def _analyse(self, window: int) -> dict:
        o = self.options
        s = self.ctx.settings
        src = self.input("input")
        f0 = window * self._window
        f1 = min(f0 + self._window, self._frames)
        a0 = samples_at(f0, s.fps, s.sample_rate)
        a1 = min(samples_at(f1, s.fps, s.sample_rate), src.audio.sample_count)
        block = 10 * s.sample_rate
        # read in blocks of 10 s, kept as a mono float32 mix (3 minutes are 35 MB)
        mono = np.concatenate(
            [mono_of(src.audio_samples(k, min(block, a1 - k)).samples).astype(np.float32) for k in range(a0, a1, block)]
            or [np.zeros(0, np.float32)]
        )
        a = audio_dsp.analyse(
            mono,
            s.sample_rate,
            band_edges=o.bands,
            onset_threshold=o.onset_threshold,
            onset_gap=o.onset_gap,
            bpm=o.bpm,
            bpm_range=o.bpm_range,
            tightness=o.tightness,
        )
        fps = float(s.fps)
        n = f1 - f0
        origin = a0 / s.sample_rate  # seconds of the window's first sample
        frame_t = np.arange(f0, f1) * float(1 / s.fps) - origin
        rate = a.hop_rate
        raw = {"rms": a.rms, "low": a.bands[0], "mid": a.bands[1], "high": a.bands[2], "onset_strength": a.flux}
        levels = {}
        for name, series in raw.items():
            smooth = audio_dsp.follow(series, rate, o.attack, o.release)
            if o.normalize:
                peak = float(smooth.max()) if len(smooth) else 0.0
                smooth = smooth / peak if peak > 0 else smooth * 0
            levels[name] = np.interp(frame_t, a.times, smooth, right=0.0) if len(a.times) else np.zeros(n)
        out = {}
        for name, v in levels.items():
            out[name] = o.min + (o.max - o.min) * v
        onset_f = self._event_frames(a.onsets + origin, fps, f0, f1)
        beat_f = self._event_frames(a.beats + origin, fps, f0, f1)
        out["onset"] = self._train(onset_f - f0, n)
        out["beat"] = self._train(beat_f - f0, n)
        gate = levels[o.gate_signal] >= o.gate_level
        out["gate"] = gate.astype(np.float64)
        # pulse: 1 on a beat frame, decaying with the release time
        pulse = np.zeros(n)
        frames = np.arange(f0, f1)
        if len(beat_f):
            idx = np.searchsorted(beat_f, frames, side="right") - 1
            since = np.maximum(frames - beat_f[np.maximum(idx, 0)], 0)
            tau = max(o.release, 1e-6) * fps
            pulse = np.where(idx >= 0, np.exp(-since / tau), 0.0)
        out["pulse"] = o.min + (o.max - o.min) * pulse
        # phase on the frame grid, so that it is 0 exactly on the frames where beat is 1
        period = 60.0 * fps / a.tempo if a.tempo > 0 else 0.0
        grid = (beat_f.astype(np.float64), period, a.tempo)
        out["beat_phase"] = self._phase(grid[0], period, frames.astype(np.float64))
        out["tempo"] = np.full(n, a.tempo)
        out["first"], out["grid"] = f0, grid
        return out

    @staticmethod
    def _event_frames(times: np.ndarray, fps: float, f0: int, f1: int) -> np.ndarray:
        f = np.unique(np.floor(np.asarray(times) * fps + 0.5).astype(np.int64))
        return f[(f >= f0) & (f < f1)]

    @staticmethod
    def _train(frames: np.ndarray, n: int) -> np.ndarray:
        out = np.zeros(n)
        out[frames] = 1.0
        return out

    @staticmethod
    def _phase(beats: np.ndarray, period: float, t: np.ndarray) -> np.ndarray:
        """0..1 through the beat interval at each time ``t`` (beats and period in the same unit)."""
        if len(beats) == 0 or period <= 0:
            return np.zeros(len(t))
        k = np.searchsorted(beats, t, side="right") - 1
        phase = np.empty(len(t))
        before = k < 0
        phase[before] = ((t[before] - beats[0]) / period) % 1.0
        after = k >= len(beats) - 1
        phase[after & ~before] = ((t[after & ~before] - beats[-1]) / period) % 1.0
        mid = ~before & ~after
        km = k[mid]
        phase[mid] = (t[mid] - beats[km]) / (beats[km + 1] - beats[km])
        return np.clip(phase, 0.0, 1.0)

    def signal(self, name, frames):
        f = np.asarray(frames, np.int64)
        out = np.zeros(len(f))
        if not len(f):
            return out
        # frames outside the track read the nearest window's beat grid
        owner = np.clip(np.where(f < 0, 0, f // self._window), 0, self._windows() - 1)
        inside = (f >= 0) & (f < self._frames)
        for w in np.unique(owner).tolist():
            table = self.analysis(w)
            here = owner == w
            ins = here & inside
            out[ins] = table[name][f[ins] - table["first"]]
            outside = here & ~inside
            if outside.any():
                beats, period, tempo = table["grid"]
                if name in LEVELS or name == "pulse":
                    out[outside] = self.options.min
                elif name == "beat_phase":
                    out[outside] = self._phase(beats, period, f[outside].astype(np.float64))
                elif name == "tempo":
                    out[outside] = tempo
        return out

    def event_frames(self, name: str) -> list[int]:
        """Frames of the events of ``name`` (``onset``, ``beat`` or the rising edges of ``gate``), over
        the whole track (every window is analysed: for tests and short tracks)."""
        v = np.concatenate([self.analysis(w)[name] for w in range(self._windows())])
        return rising_frames(np.arange(len(v)), v)


# ----------------------------------------------------------------------------- visualiser
class AudioVisualizer(vfx.Source):
    """Waveform or spectrum bars of an audio input, drawn in a colour over a background (RGBA).

    ``spectrum``: ``bars`` bars over log-spaced bands from ``fmin`` to ``fmax`` Hz; a bar's height is
    the loudest bin of its band, in dB from ``floor`` (empty) to 0 dBFS (full height), from a Hann
    window of ``window`` seconds centred on the frame. ``smoothing`` (seconds) makes bars fall slowly:
    each shows the highest of the recent frames' values, each decayed by ``exp(-age / smoothing)``
    (a finite look-back of 5 time constants, so any frame renders on its own). ``waveform``: the
    samples of the frame's own time span (mono mix), ``scale`` times full scale to full height, drawn
    as a filled min/max trace at least ``line`` pixels thick. The picture is premultiplied RGBA: with
    a transparent ``background`` it composites over other layers.
    """

    type = "source.audio_visualizer"
    animated_batches = True

    class Options(vfx.Options):
        input = opt.Input(kind="audio", doc="the audio to show")
        mode = opt.Choice("spectrum", choices=("spectrum", "waveform"), doc="what to draw")
        size = opt.Vec(None, integer=True, min=2, animate=False, doc="[width, height] (default: the pipeline size)")
        duration = opt.Time(None, min_frames=1, doc="length (default: the input's audio length)")
        color = opt.Color("#4fc3ff", doc="colour of the bars or the trace (animatable)")
        background = opt.Color("transparent", doc="colour behind them (default: transparent)")
        bars = opt.Int(48, min=1, max=1024, animate=False, doc="number of spectrum bars")
        gap = opt.Float(0.2, min=0.0, max=0.9, animate=False, doc="space between bars, fraction of a bar's slot")
        fmin = opt.Float(30.0, min=1.0, animate=False, doc="lowest frequency shown, Hz")
        fmax = opt.Float(16000.0, min=10.0, animate=False, doc="highest frequency shown, Hz")
        floor = opt.Float(-60.0, min=-160.0, max=-1.0, animate=False, doc="level of an empty bar, dBFS")
        window = opt.Float(0.05, min=0.005, max=1.0, animate=False, doc="spectrum window length, seconds")
        smoothing = opt.Float(0.12, min=0.0, max=5.0, animate=False, doc="fall time of the bars, seconds (0: none)")
        scale = opt.Float(1.0, min=0.01, max=100.0, animate=False, doc="waveform zoom (1: full scale fills the height)")
        line = opt.Float(2.0, min=1.0, max=100.0, animate=False, doc="waveform thickness in pixels")

    def configure(self):
        s = self.ctx.settings
        o = self.options
        w, h = o.size or (s.width, s.height)
        check_frame_audio(self)
        src = self.input("input")
        count = o.duration or max(1, math.ceil(src.audio.sample_count * s.fps / s.sample_rate))
        if o.fmin >= o.fmax or o.fmax > s.sample_rate / 2:
            raise ConfigureError(
                f"need fmin < fmax <= {s.sample_rate // 2} Hz, got {o.fmin} and {o.fmax}", option="fmax"
            )
        self.video = StreamInfo(w, h, s.fps, count, True)
        self._n_fft = 1 << max(8, math.ceil(math.log2(o.window * s.sample_rate)))

    def _spectrum(self, frames: list[int]) -> np.ndarray:
        """(len(frames), bars) heights 0..1, unsmoothed."""
        o = self.options
        s = self.ctx.settings
        rate = s.sample_rate
        win = int(round(o.window * rate))
        n_fft = self._n_fft
        centres = [(samples_at(f, s.fps, rate) + samples_at(f + 1, s.fps, rate)) // 2 for f in frames]
        lo, hi = min(centres) - win // 2, max(centres) - win // 2 + win
        src = self.input("input")
        mono = mono_of(read_clamped(src, lo, hi - lo, src.audio.channels))
        starts = np.asarray(centres) - win // 2 - lo
        idx = starts[:, None] + np.arange(win)[None, :]
        window = np.hanning(win + 2)[1:-1]
        segs = mono[idx] * window
        spec = np.abs(np.fft.rfft(segs, n_fft, axis=1)) * (2.0 / window.sum())
        freqs = np.fft.rfftfreq(n_fft, 1 / rate)
        edges = np.geomspace(o.fmin, o.fmax, o.bars + 1)
        out = np.zeros((len(frames), o.bars))
        for b in range(o.bars):
            sel = (freqs >= edges[b]) & (freqs < edges[b + 1])
            if not sel.any():  # a narrow low band: its nearest bin
                sel = np.zeros(len(freqs), bool)
                sel[min(len(freqs) - 1, int(np.argmin(np.abs(freqs - math.sqrt(edges[b] * edges[b + 1])))))] = True
            out[:, b] = spec[:, sel].max(axis=1)
        db = 20 * np.log10(np.maximum(out, 1e-12))
        return np.clip((db - o.floor) / -o.floor, 0.0, 1.0)

    def _heights(self, indices: list[int]) -> np.ndarray:
        o = self.options
        fps = float(self.video.fps)
        if o.smoothing <= 0:
            return self._spectrum(indices)
        back = int(math.ceil(5 * o.smoothing * fps))
        frames = sorted({j for i in indices for j in range(max(0, i - back), i + 1)})
        raw = dict(zip(frames, self._spectrum(frames)))
        tau = o.smoothing * fps
        out = np.zeros((len(indices), o.bars))
        for k, i in enumerate(indices):
            for j in range(max(0, i - back), i + 1):
                np.maximum(out[k], raw[j] * math.exp(-(i - j) / tau), out=out[k])
        return out

    def _waveform_cover(self, indices, w, h):
        import torch

        o = self.options
        s = self.ctx.settings
        src = self.input("input")
        cover = torch.zeros((len(indices), h, w))
        rows = (1 - 2 * (torch.arange(h, dtype=torch.float32) + 0.5) / h).view(h, 1)  # +1 top .. -1 bottom
        half_line = o.line / h  # in the +-1 units
        for k, i in enumerate(indices):
            a0, a1 = samples_at(i, s.fps, s.sample_rate), samples_at(i + 1, s.fps, s.sample_rate)
            mono = mono_of(read_clamped(src, a0, a1 - a0, src.audio.channels)) * o.scale
            bins = np.linspace(0, len(mono), w + 1).astype(np.int64)
            bins = np.minimum(bins[:-1], len(mono) - 1)
            lo = np.minimum.reduceat(mono, bins)
            hi = np.maximum.reduceat(mono, bins)
            lo_t = torch.as_tensor(np.clip(lo, -1, 1), dtype=torch.float32).view(1, w) - half_line
            hi_t = torch.as_tensor(np.clip(hi, -1, 1), dtype=torch.float32).view(1, w) + half_line
            cover[k] = ((rows >= lo_t) & (rows <= hi_t)).float()
        return cover

    def _bars_cover(self, indices, w, h):
        import torch

        o = self.options
        heights = torch.as_tensor(self._heights(indices), dtype=torch.float32)  # (N, bars)
        x = (torch.arange(w, dtype=torch.float32) + 0.5) / w * o.bars
        bar = x.floor().clamp(max=o.bars - 1).long()
        frac = x - bar
        inside = ((frac >= o.gap / 2) & (frac < 1 - o.gap / 2)).float()  # (W,)
        y = 1 - (torch.arange(h, dtype=torch.float32) + 0.5) / h  # 1 top .. 0 bottom
        col_h = heights[:, bar]  # (N, W)
        return (y.view(1, h, 1) <= col_h.view(-1, 1, w)).float() * inside.view(1, 1, w)

    def render(self, indices):
        import torch

        from vfx.ops import color

        w, h = self.video.width, self.video.height
        cover = (
            self._waveform_cover(indices, w, h) if self.options.mode == "waveform" else self._bars_cover(indices, w, h)
        )
        fg = torch.as_tensor([color.linear_rgba(c) for c in self.values("color", indices)], dtype=torch.float32)
        bg = torch.as_tensor([color.linear_rgba(c) for c in self.values("background", indices)], dtype=torch.float32)
        cov = cover.unsqueeze(-1)  # (N, H, W, 1)
        pixels = bg.view(-1, 1, 1, 4) * (1 - cov) + fg.view(-1, 1, 1, 4) * cov
        return FrameBatch(indices, pixels.to(self.device).permute(0, 3, 1, 2))
