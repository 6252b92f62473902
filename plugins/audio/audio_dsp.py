"""Audio DSP in NumPy/SciPy for the audio nodes: analysis (levels, bands, spectral-flux onsets,
tempo and beat tracking), envelope smoothing and a look-ahead peak limiter.

Nothing here knows about nodes; every function takes arrays and returns arrays, so the analysis
can be timed and tested on its own (``benchmarks/audio.py``, ``tests/test_audio_analysis.py``).

Analysis works on a mono mix at the track's own rate. A short-time Fourier transform (Hann
window of about 21 ms, a hop of half of that, frames centred on their time) gives per-hop
band levels (root mean square by Parseval's theorem, so a full-scale sine reads 0.707) and the
spectral flux of the log-compressed magnitude (``log(1 + 100 |X|)`` of about 40 log-spaced
bands from 30 Hz to 11 kHz, half-wave rectified, summed over the bands). Onsets are peaks of the flux above a moving mean plus a
threshold. The tempo is the lag of the strongest autocorrelation of the flux (weighted by a
log-normal prior around 120 BPM, one octave wide, plus half the correlation at twice the lag,
Ellis's TPS2, where the track is three periods long or more) and the beats are the best path through the
flux of beats about one period apart, found by dynamic programming (D. Ellis, "Beat tracking by
dynamic programming", 2007): each frame's score is its flux plus the best score of a predecessor
half a period to two periods back, penalised by ``tightness * log(gap / period)^2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: analysis hops per block of the STFT (bounds the memory of the windowed frames)
_BLOCK = 2048
#: hops by which the flux peak leads a sharp attack (measured on clicks: see test_audio_analysis)
_ONSET_LATENCY = 0.4


@dataclass
class Analysis:
    """Per-hop analysis of one track: hop times, levels, flux, onset and beat times (seconds)."""

    sample_rate: int
    hop: int
    times: np.ndarray  # (F,) seconds of each hop (frame centre)
    rms: np.ndarray  # (F,) broadband RMS, linear amplitude
    bands: np.ndarray  # (B, F) RMS of each band
    flux: np.ndarray  # (F,) spectral flux, 0..1 (divided by its maximum)
    onsets: np.ndarray  # (K,) onset times in seconds
    tempo: float  # beats per minute (0 when no beat was found)
    beats: np.ndarray  # (M,) beat times in seconds

    @property
    def hop_rate(self) -> float:
        """Analysis hops per second."""
        return self.sample_rate / self.hop


def stft_levels(
    mono: np.ndarray, sample_rate: int, band_edges: list[float], n_fft: int | None = None, hop: int | None = None
):
    """(times, rms, bands (B, F), flux) of a mono float32 signal, block by block."""
    from scipy import fft as sfft

    if n_fft is None:
        n_fft = 1 << max(6, int(round(math.log2(sample_rate * 0.0213))))  # 1024 at 48 kHz
    hop = hop or n_fft // 2
    x = np.asarray(mono, np.float32)
    count = len(x)
    frames = count // hop + 1
    pad = n_fft // 2
    padded = np.zeros(count + 2 * pad + hop, np.float32)
    padded[pad : pad + count] = x
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    edges = [0.0] + [float(e) for e in band_edges] + [sample_rate / 2 + 1]
    band_bins = [
        (int(np.searchsorted(freqs, lo)), int(np.searchsorted(freqs, hi))) for lo, hi in zip(edges[:-1], edges[1:])
    ]
    flux_top = int(np.searchsorted(freqs, min(11000.0, sample_rate / 2)))
    # the flux is taken over ~40 log-spaced bands (mean power of their bins), so a kick's few low
    # bins weigh as much as a hat's hundreds of high ones
    f = np.maximum(freqs[1:flux_top], 1.0)
    which = np.clip((np.log(f / 30.0) / np.log(11000.0 / 30.0) * 40).astype(np.int64), 0, 39)
    band_starts = 1 + np.flatnonzero(np.diff(np.concatenate([[-1], which])))  # bins are sorted: ranges
    band_sizes = np.diff(np.concatenate([band_starts, [flux_top]])).astype(np.float32)
    # Parseval: mean square of the windowed frame = sum |X|^2 * weight / (n * sum w^2)
    weight = np.full(len(freqs), 2.0, np.float32)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    norm = np.float32(1.0 / (n_fft * float((window.astype(np.float64) ** 2).sum())))
    rms = np.empty(frames, np.float32)
    bands = np.empty((len(band_bins), frames), np.float32)
    flux = np.empty(frames, np.float32)
    from numpy.lib.stride_tricks import sliding_window_view

    view = sliding_window_view(padded, n_fft)[::hop]
    prev = None
    for b0 in range(0, frames, _BLOCK):
        b1 = min(frames, b0 + _BLOCK)
        spec = sfft.rfft(view[b0:b1] * window, axis=1, workers=1)
        power = spec.real**2 + spec.imag**2  # (n, bins) float32
        power *= weight
        for k, (lo, hi) in enumerate(band_bins):
            bands[k, b0:b1] = power[:, lo:hi].sum(axis=1)
        rms[b0:b1] = bands[:, b0:b1].sum(axis=0)
        logmag = np.add.reduceat(power[:, :flux_top], band_starts, axis=1) / band_sizes
        logmag *= norm * n_fft
        np.sqrt(logmag, out=logmag)
        logmag *= 100.0
        np.log1p(logmag, out=logmag)
        first = np.zeros_like(logmag[:1]) if prev is None else prev  # silence before the start
        diff = np.diff(np.concatenate([first, logmag]), axis=0)
        flux[b0:b1] = np.maximum(diff, 0).sum(axis=1)
        prev = logmag[-1:]
    rms = np.sqrt(np.maximum(rms * norm, 0))
    bands = np.sqrt(np.maximum(bands * norm, 0))
    peak = float(flux.max()) if frames else 0.0
    if peak > 0:
        flux /= peak
    times = np.arange(frames) * (hop / sample_rate)
    return times, rms, bands, flux, hop


def pick_onsets(
    flux: np.ndarray, hop_rate: float, threshold: float = 0.1, min_gap: float = 0.1, window: float = 0.1
) -> np.ndarray:
    """Indices of onset peaks: local maxima over +-30 ms, ``threshold`` above the mean of
    +-``window`` seconds, at least ``min_gap`` seconds apart (the stronger one wins)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    if len(flux) == 0:
        return np.zeros(0, np.int64)
    w_max = max(1, int(round(0.03 * hop_rate)))
    w_mean = max(1, int(round(window * hop_rate)))
    local_max = maximum_filter1d(flux, 2 * w_max + 1, mode="constant")
    mean = uniform_filter1d(flux.astype(np.float64), 2 * w_mean + 1, mode="constant")
    cand = np.flatnonzero((flux >= local_max) & (flux >= mean + threshold) & (flux > 0))
    gap = max(1, int(round(min_gap * hop_rate)))
    kept: list[int] = []
    for c in cand:
        if kept and c - kept[-1] < gap:
            if flux[c] > flux[kept[-1]]:
                kept[-1] = int(c)
            continue
        kept.append(int(c))
    return np.asarray(kept, np.int64)


def estimate_tempo(
    flux: np.ndarray, hop_rate: float, bpm_min: float = 60.0, bpm_max: float = 200.0, prior: float = 120.0
) -> float:
    """The tempo in BPM: the autocorrelation peak of the (mean-removed) onset envelope, weighted by
    a log-normal prior around ``prior`` BPM (one octave standard deviation); 0 for silence."""
    from scipy import fft as sfft

    env = flux.astype(np.float64) - flux.mean()
    n = len(env)
    if n < 4 or not np.any(env):
        return 0.0
    size = sfft.next_fast_len(2 * n)
    spec = sfft.rfft(env, size)
    acf = sfft.irfft(spec.real**2 + spec.imag**2, size)[:n]
    acf /= np.maximum(np.arange(n, 0, -1), 1)  # unbiased: each lag over the overlap
    lo = max(1, int(math.floor(60.0 * hop_rate / bpm_max)))
    hi = min(n - 2, int(math.ceil(60.0 * hop_rate / bpm_min)))
    if hi <= lo:
        return 0.0
    lags = np.arange(lo, hi + 1)
    bpm = 60.0 * hop_rate / lags
    weight = np.exp(-0.5 * (np.log2(bpm / prior)) ** 2)
    acf = np.maximum(acf, 0)
    # Ellis's TPS2: a beat period is also supported by the bar-level period twice as long
    # (kick-snare patterns otherwise pull the estimate down an octave); counted only where the track
    # overlaps itself by a period at twice the lag, as the unbiased ACF at lags near the track's
    # length averages a handful of products and would outvote the real period
    two = np.minimum(2 * lags, n - 2)
    bar = (3 * lags + 1 < n).astype(np.float64)
    score = (acf[lags] + bar * (0.5 * acf[two] + 0.25 * (acf[two - 1] + acf[two + 1]))) * weight
    k = int(np.argmax(score))
    if score[k] <= 0:
        return 0.0
    lag = float(lags[k])
    if 0 < k < len(score) - 1:  # parabolic refinement of the peak
        a, b, c = acf[lags[k] - 1], acf[lags[k]], acf[lags[k] + 1]
        den = a - 2 * b + c
        if den < 0:
            lag += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return 60.0 * hop_rate / lag


def track_beats(flux: np.ndarray, hop_rate: float, bpm: float, tightness: float = 100.0) -> np.ndarray:
    """Indices of beats at about ``bpm`` that best follow the onset envelope (Ellis 2007).

    The dynamic programme runs block by block: every frame of a block of half a period looks
    back at least half a period, so its predecessors are all in earlier blocks.
    """
    n = len(flux)
    if bpm <= 0 or n == 0 or not np.any(flux):
        return np.zeros(0, np.int64)
    period = 60.0 * hop_rate / bpm
    std = float(flux.std()) or 1.0
    env = flux.astype(np.float64) / std
    # local score: the envelope smoothed by a Gaussian of a 32nd of a period
    half = max(1, int(round(period / 32)))
    g = np.exp(-0.5 * (np.arange(-4 * half, 4 * half + 1) / half) ** 2)
    local = np.convolve(env, g, mode="same")
    w_lo = int(round(period / 2))
    w_hi = int(round(2 * period))
    w_lo = max(1, w_lo)
    gaps = np.arange(w_lo, w_hi + 1)  # how far back a predecessor is
    penalty = -tightness * np.log(gaps / period) ** 2
    cum = np.zeros(n)
    back = np.full(n, -1, np.int64)
    strong = np.flatnonzero(local >= 0.01 * local.max())
    first = int(strong[0]) if len(strong) else n
    for b0 in range(0, n, w_lo):
        b1 = min(n, b0 + w_lo)
        idx = np.arange(b0, b1)
        pred = idx[:, None] - gaps[None, :]  # (block, gaps)
        valid = pred >= 0
        cand = np.where(valid, cum[np.maximum(pred, 0)] + penalty[None, :], -np.inf)
        best = np.argmax(cand, axis=1)
        best_score = cand[np.arange(len(idx)), best]
        has = np.isfinite(best_score) & (idx >= first)
        cum[b0:b1] = local[b0:b1] + np.where(has, best_score, 0.0)
        back[b0:b1] = np.where(has, pred[np.arange(len(idx)), best], -1)
    # the last beat: the last local maximum of the cumulative score above half their median
    from scipy.ndimage import maximum_filter1d

    peaks = np.flatnonzero((cum >= maximum_filter1d(cum, 3)) & (cum > 0))
    if len(peaks) == 0:
        return np.zeros(0, np.int64)
    med = np.median(cum[peaks])
    last = int(peaks[cum[peaks] >= 0.5 * med][-1])
    beats = [last]
    while back[beats[-1]] >= 0:
        beats.append(int(back[beats[-1]]))
    beats = np.asarray(beats[::-1], np.int64)
    # trim weak beats at both ends (no onset near them): below half the RMS of the beat scores
    score = local[beats]
    floor = 0.5 * math.sqrt(float(np.mean(score**2)))
    strong_idx = np.flatnonzero(score >= floor)
    if len(strong_idx):
        beats = beats[strong_idx[0] : strong_idx[-1] + 1]
    return beats


def refine_peaks(flux: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Sub-hop positions of peaks by parabolic interpolation of the flux around each index."""
    out = idx.astype(np.float64)
    inner = (idx > 0) & (idx < len(flux) - 1)
    i = idx[inner]
    a, b, c = flux[i - 1].astype(np.float64), flux[i].astype(np.float64), flux[i + 1].astype(np.float64)
    den = a - 2 * b + c
    shift = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1), 0.0)
    out[inner] += np.clip(shift, -0.5, 0.5)
    return out


def analyse(
    mono: np.ndarray,
    sample_rate: int,
    band_edges=(200.0, 2000.0),
    onset_threshold: float = 0.1,
    onset_gap: float = 0.1,
    bpm: float | None = None,
    bpm_range=(60.0, 200.0),
    tightness: float = 100.0,
) -> Analysis:
    """The whole analysis of one mono track (see the module docstring)."""
    times, rms, bands, flux, hop = stft_levels(mono, sample_rate, list(band_edges))
    rate = sample_rate / hop
    onset_idx = pick_onsets(flux, rate, onset_threshold, onset_gap)
    # an onset's time: the flux rises as the attack enters the centred window, up to half a
    # window early; the peak is refined to a fraction of a hop and delayed by that latency
    latency = _ONSET_LATENCY * hop / sample_rate
    onsets = refine_peaks(flux, onset_idx) * (hop / sample_rate) + latency
    tempo = float(bpm) if bpm else estimate_tempo(flux, rate, *bpm_range)
    beat_idx = track_beats(flux, rate, tempo, tightness) if tempo > 0 else np.zeros(0, np.int64)
    beats = refine_peaks(flux, beat_idx) * (hop / sample_rate) + latency
    return Analysis(sample_rate, hop, times, rms, bands, flux, np.maximum(onsets, 0), tempo, np.maximum(beats, 0))


def follow(values: np.ndarray, rate: float, attack: float, release: float) -> np.ndarray:
    """One-pole envelope follower: rises with time constant ``attack``, falls with ``release`` (s)."""
    x = np.asarray(values, np.float64)
    if attack <= 0 and release <= 0:
        return x.copy()
    up = 1.0 - math.exp(-1.0 / (attack * rate)) if attack > 0 else 1.0
    down = 1.0 - math.exp(-1.0 / (release * rate)) if release > 0 else 1.0
    if up == down:
        from scipy.signal import lfilter

        return lfilter([up], [1.0, up - 1.0], x, zi=[0.0])[0]  # starts from silence
    out = np.empty_like(x)
    y = 0.0
    xs = x.tolist()
    for i, v in enumerate(xs):
        y += (up if v > y else down) * (v - y)
        out[i] = y
    return out


def limiter_gain(peak: np.ndarray, threshold: float, attack: int, release: int, origin: int = 0) -> np.ndarray:
    """Gain (float64, <= 1) of a look-ahead peak limiter for a block of per-sample peaks.

    ``g_req = min(1, threshold / peak)``; the gain is the lower envelope of ramps around every
    sample's requirement: it may rise by at most 1 per ``release`` samples after it and fall by at
    most 1 per ``attack`` samples before it (the look-ahead), so ``gain * peak <= threshold``
    everywhere. Each output sample depends only on peaks ``release`` before to ``attack`` after
    it, and the arithmetic uses absolute sample positions (``origin`` is the block's first), so a
    block computed alone equals the same samples of a whole-track pass exactly, given those
    margins of context.
    """
    p = np.asarray(peak, np.float64)
    req = np.ones_like(p)
    loud = p > threshold
    req[loud] = threshold / p[loud]
    pos = np.arange(origin, origin + len(p), dtype=np.float64)
    r = float(max(1, release))
    a = float(max(1, attack))
    # rising ramps after each sample: min_k<=n (req_k + (n - k) / r)
    released = (np.minimum.accumulate(req * r - pos) + pos) / r
    released = np.minimum(released, req)
    # falling ramps before each sample: min_k>=n (rel_k + (k - n) / a)
    rev = (released * a + pos)[::-1]
    gain = (np.minimum.accumulate(rev)[::-1] - pos) / a
    return np.minimum(np.minimum(gain, released), 1.0)
