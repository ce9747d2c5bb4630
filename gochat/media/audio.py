"""Audio and video: probed with ffprobe (is it what its magic number says, how long, which
streams), and for audio a small waveform (peaks) decoded by ffmpeg at a low rate, so a client can
draw a voice message before playing it. Both run as subprocesses: off the event loop, bounded by
the caller's semaphore, killed at a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import ValidationFailed

WAVEFORM_BARS = 64
_RATE = 1000  # samples per second decoded for the waveform: plenty for 64 bars
_READ = 64 * 1024
_WINDOW = 20  # samples (20 ms) per peak kept while decoding
# Containers whose audio-only files get an audio/ type (a WebM voice note is "video/webm" by magic).
_AUDIO_OF = {"video/webm": "audio/webm", "video/mp4": "audio/mp4", "video/x-matroska": "audio/x-matroska"}


@dataclass(frozen=True, slots=True)
class Probed:
    content_type: str
    kind: str  # audio | video
    duration: float | None


def available() -> bool:
    return shutil.which("ffprobe") is not None and shutil.which("ffmpeg") is not None


def _invalid(what: str) -> ValidationFailed:
    message = f"the file is not valid {what}"
    return ValidationFailed(message, code="invalid_media", details={"file": [f"Not valid {what}."]})


async def _run(args: list[str], timeout: float) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return out if proc.returncode == 0 else b""


async def probe(path: Path, content_type: str, kind: str, *, timeout: float = 30.0) -> Probed:
    """Verify an audio/video file decodes as media; an audio-only container becomes audio."""
    try:
        out = await _run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type", "-of", "json", str(path)],
            timeout,
        )
    except TimeoutError:
        raise _invalid(kind) from None
    info: dict[str, Any] = orjson.loads(out) if out else {}
    streams = {s.get("codec_type") for s in info.get("streams", [])}
    if "audio" not in streams and "video" not in streams:
        raise _invalid(kind)
    duration: float | None = None
    with contextlib.suppress(TypeError, ValueError, KeyError):
        duration = round(float(info["format"]["duration"]), 3)
    if "video" not in streams:
        return Probed(_AUDIO_OF.get(content_type, content_type), "audio", duration)
    if kind == "audio":  # e.g. an MP3 with cover art: still audio
        return Probed(content_type, "audio", duration)
    return Probed(content_type, "video", duration)


@dataclass(frozen=True, slots=True)
class Heard:
    peaks: list[int]  # WAVEFORM_BARS values 0..100
    seconds: float  # the decoded length


async def listen(path: Path, *, bars: int = WAVEFORM_BARS, timeout: float = 60.0) -> Heard:
    """The recording's waveform and length, decoded to 16-bit mono PCM at 1 kHz and read in chunks.
    The peak of every `_WINDOW` samples is kept (two bytes per window: 60 kB an hour), then folded
    into `bars`, so nothing depends on the container announcing a duration: a browser's
    MediaRecorder writes WebM without one."""
    windows = array("H")
    peak, filled, total, carry = 0, 0, 0, b""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(_RATE), "-f", "s16le", "-",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            while chunk := await proc.stdout.read(_READ):
                data = carry + chunk
                usable = len(data) - len(data) % 2
                carry = data[usable:]
                samples = memoryview(data[:usable]).cast("h")
                total += len(samples)
                pos = 0
                while pos < len(samples):
                    take = min(_WINDOW - filled, len(samples) - pos)
                    part = samples[pos : pos + take]
                    peak = max(peak, max(part), -min(part))
                    pos += take
                    filled += take
                    if filled == _WINDOW:
                        windows.append(min(peak, 32767))
                        peak, filled = 0, 0
            await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if filled:
        windows.append(min(peak, 32767))
    peaks = [0] * bars
    if windows:
        n = len(windows)
        for bar in range(bars):
            lo = bar * n // bars
            hi = max((bar + 1) * n // bars, lo + 1)
            peaks[bar] = max(windows[lo:hi])
    top = max(peaks) or 1
    return Heard([round(p * 100 / top) for p in peaks], round(total / _RATE, 3))
