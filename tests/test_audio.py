"""The robust audio reader: formats, video audio tracks, downmix, resampling, segments, errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emowb.data.audio import (AudioError, audio_duration, load_audio, read_audio, resample,
                              signal_problem)
from fixtures_media import tone, write_mp4


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


@pytest.mark.parametrize("fmt,sr", [("wav", 44100), ("flac", 22050), ("ogg", 48000), ("mp3", 44100),
                                    ("wav", 8000)])
def test_formats_resample_to_16k_and_keep_pitch(tmp_path, fmt, sr):
    path = tmp_path / f"a.{fmt}"
    sf.write(path, tone(440, 1.0, sr), sr)
    x = load_audio(path, sr=16000)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - 16000) <= 1200 if fmt == "mp3" else len(x) == 16000  # mp3 pads frames
    assert abs(_peak_hz(x, 16000) - 440) < 3
    assert abs(audio_duration(path) - 1.0) < 0.08


def test_video_audio_track_is_decoded(tmp_path):
    sr = 44100
    st = np.stack([tone(330, 1.0, sr), tone(330, 1.0, sr)], axis=1)
    path = write_mp4(tmp_path / "clip.mp4", st, sr)
    clip = read_audio(path, sr=16000)
    assert clip.channels == 2 and clip.source_sr == sr
    assert abs(clip.duration - 1.0) < 0.1
    assert abs(_peak_hz(clip.samples, 16000) - 330) < 4


def test_stereo_is_averaged(tmp_path):
    sr = 16000
    left, right = tone(200, 0.5, sr, amp=0.6), tone(200, 0.5, sr, amp=0.2)
    sf.write(tmp_path / "st.wav", np.stack([left, right], 1), sr)
    x = load_audio(tmp_path / "st.wav", sr=sr)
    np.testing.assert_allclose(x, (left + right) / 2, atol=1e-4)


@pytest.mark.parametrize("start,end,expect", [(0.25, 0.75, 0.5), (0.5, None, 1.5), (None, 1.0, 1.0)])
def test_segments(tmp_path, start, end, expect):
    sr = 16000
    x = np.arange(2 * sr, dtype=np.float32) / (4 * sr)  # a ramp: the cut position is visible
    sf.write(tmp_path / "r.wav", x, sr, subtype="FLOAT")
    y = load_audio(tmp_path / "r.wav", sr=sr, start=start, end=end)
    assert len(y) == int(expect * sr)
    assert y[0] == pytest.approx(x[int((start or 0) * sr)], abs=1e-6)


def test_segment_in_video(tmp_path):
    sr = 16000
    x = np.concatenate([tone(300, 1.0, sr), tone(1200, 1.0, sr)])
    path = write_mp4(tmp_path / "v.mp4", x, sr, video=False)
    y = load_audio(path, sr=sr, start=1.2, end=1.8)
    assert abs(len(y) - 0.6 * sr) < 2
    assert abs(_peak_hz(y, sr) - 1200) < 10


def test_end_beyond_file_and_truncation_are_noted(tmp_path):
    sf.write(tmp_path / "a.wav", tone(220, 1.0, 16000), 16000)
    clip = read_audio(tmp_path / "a.wav", end=3.0)
    assert clip.duration == pytest.approx(1.0) and "beyond file end" in clip.notes[0]
    clip = read_audio(tmp_path / "a.wav", max_duration=0.4)
    assert clip.duration == pytest.approx(0.4) and clip.notes[0].startswith("truncated")


def _corrupt(p):
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 4)


def _empty(p):
    p.write_bytes(b"")


def _nan(p):
    x = tone(220, 0.5, 16000)
    x[100] = np.nan
    sf.write(p, x, 16000, subtype="FLOAT")


@pytest.mark.parametrize("make,needle", [(_corrupt, "cannot decode"), (_empty, "empty audio file"),
                                         (_nan, "NaN/inf"), (None, "not found")])
def test_bad_files_raise_naming_the_file(tmp_path, make, needle):
    p = tmp_path / "bad_file.wav"
    if make:
        make(p)
    with pytest.raises(AudioError, match=needle) as e:
        load_audio(p)
    assert "bad_file.wav" in str(e.value)


def test_start_beyond_end_is_an_error(tmp_path):
    sf.write(tmp_path / "a.wav", tone(220, 1.0, 16000), 16000)
    with pytest.raises(AudioError, match="beyond the end"):
        load_audio(tmp_path / "a.wav", start=2.0)


@pytest.mark.parametrize("x,needle", [(np.zeros(16000, np.float32), "silent"),
                                      (np.full(16000, 3e-5, np.float32), "silent"),
                                      (tone(200, 0.05, 16000), "too short"),
                                      (np.zeros(0, np.float32), "too short"),
                                      (tone(200, 0.5, 16000), "")])
def test_signal_problem(x, needle):
    msg = signal_problem(x, 16000)
    assert (needle in msg) if needle else msg == ""


def test_resample_is_deterministic_and_length_exact():
    x = np.random.default_rng(0).normal(size=22050).astype(np.float32)
    a, b = resample(x, orig_sr=22050, sr=16000), resample(x, orig_sr=22050, sr=16000)
    assert len(a) == 16000 and np.array_equal(a, b)
