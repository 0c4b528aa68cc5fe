"""Video decoding and encoding through PyAV (the FFmpeg libraries inside its wheel; no system ffmpeg needed).

Frames are RGB ``uint8`` arrays shaped (H, W, 3); sizes are given as (width, height) like the folder names
(``video_360x180_dev``). Every read error (missing, unreadable, corrupt or truncated file) raises
``util.errors.InputError`` naming the file. Written videos appear under their final name only when complete.

Sampling on a fixed grid: ``sample_times(duration_s, rate_hz)`` gives the grid ``k / rate_hz`` (k = 0, 1, ...)
and ``iter_sampled_frames`` yields, for each grid time, the decoded frame whose timestamp is nearest to it
(ties go to the earlier frame). How the visual front end aligns this grid with label frames is documented in
``feature/visual.py``.

Audio: ``VideoWriter(..., audio=SOURCE)`` adds the first audio stream of SOURCE (a video or an audio file) to the
written mp4, interleaved with the video and cut at its end: copied packet by packet when mp4 holds the codec
(:data:`MP4_AUDIO_CODECS`), else re-encoded to AAC (more than two channels: the first only, e.g. W of FOA).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from util.errors import InputError
from util.fileio import atomic_path

#: Frame rate of STARSS23 videos (29.97 fps, NTSC).
STARSS_VIDEO_RATE = Fraction(30000, 1001)
#: A file decoding to fewer than this fraction of the frames its header announces is reported as truncated.
_TRUNCATED_FRACTION = 0.98
#: RGB -> YUV conversions of VideoWriter
_COLOR_CONVERSIONS: tuple[str, ...] = ("swscale", "bt601")
#: Audio codecs an mp4 file holds as they are (copied); other audio is re-encoded to AAC.
MP4_AUDIO_CODECS: frozenset[str] = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"})


@dataclass(frozen=True)
class VideoInfo:
    """Header facts of a video file. ``num_frames`` is the container's count (0 when the container has none)."""

    width: int
    height: int
    rate: Fraction
    num_frames: int
    duration_s: float

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def parse_size(text: str) -> tuple[int, int]:
    """``"360x180"`` -> (360, 180); raises ValueError on anything else."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise ValueError(f"bad size {text!r}: expected WIDTHxHEIGHT, e.g. 360x180") from exc
    if width <= 0 or height <= 0:
        raise ValueError(f"bad size {text!r}: width and height must be positive")
    return width, height


def size_argument(text: str, allow_original: bool = False, even: bool = False) -> tuple[int, int] | None:
    """An argparse ``type`` for WIDTHxHEIGHT options: :func:`parse_size`, ``None`` for ``"original"`` when
    ``allow_original``, even sizes only when ``even`` (H.264); argparse.ArgumentTypeError otherwise."""
    import argparse

    if allow_original and text.lower() == "original":
        return None
    try:
        size = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if even and (size[0] % 2 or size[1] % 2):
        raise argparse.ArgumentTypeError(f"{text}: width and height must be even (H.264)")
    return size


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise InputError(path, "video file not found")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot open video: unreadable, corrupt or truncated file ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise InputError(path, "file has no video stream")
    return container


def _open_media(path: Path) -> av.container.InputContainer:
    """Open any media file (video or audio); InputError naming it when missing or unreadable."""
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot open: unreadable, corrupt or truncated file ({exc})") from exc


def has_audio(path: str | Path) -> bool:
    """Whether a media file has an audio stream; InputError when it cannot be opened."""
    container = _open_media(Path(path))
    try:
        return bool(container.streams.audio)
    finally:
        container.close()


def _info_from(container: av.container.InputContainer, path: Path) -> VideoInfo:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    if not rate:
        raise InputError(path, "video stream has no frame rate")
    num_frames = int(stream.frames or 0)
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = num_frames / float(rate)
    if num_frames == 0:
        num_frames = int(round(duration * float(rate)))
    return VideoInfo(int(stream.codec_context.width), int(stream.codec_context.height), Fraction(rate), num_frames,
                     duration)


def video_info(path: str | Path) -> VideoInfo:
    """Width, height, frame rate, frame count and duration from the header; InputError if unreadable."""
    path = Path(path)
    container = _open(path)
    try:
        return _info_from(container, path)
    finally:
        container.close()


def iter_frames(path: str | Path, size: tuple[int, int] | None = None, check_complete: bool = True,
                threads: int = 0) -> Iterator[tuple[float, np.ndarray]]:
    """Decode every frame as (time_s, RGB uint8 (H, W, 3)), scaled to ``size`` = (width, height) if given.

    Scaling happens inside FFmpeg (swscale, area interpolation). With ``check_complete`` a file that ends
    before the frame count of its header (a truncated download or copy) raises InputError after the last
    decodable frame. ``threads`` = 0 lets FFmpeg choose the decoder's thread count.
    """
    path = Path(path)
    container = _open(path)
    try:
        info = _info_from(container, path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        width, height = size if size is not None else info.size
        start = stream.start_time or 0
        count = 0
        try:
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else start + count / (info.rate * stream.time_base)
                time_s = float((pts - start) * stream.time_base)
                if (frame.width, frame.height) != (width, height):
                    frame = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
                yield time_s, frame.to_ndarray(format="rgb24")
                count += 1
        except av.error.FFmpegError as exc:
            raise InputError(path, f"corrupt or truncated video: decoding stopped after {count} frames "
                                   f"({exc})") from exc
        if count == 0:
            raise InputError(path, "corrupt or truncated video: no frame could be decoded")
        if check_complete and stream.frames and count < _TRUNCATED_FRACTION * stream.frames:
            raise InputError(path, f"truncated video: header announces {stream.frames} frames, only {count} decode")
    finally:
        container.close()


def num_sampled_frames(duration_s: float, rate_hz: float) -> int:
    """Grid points ``k / rate_hz`` covered by a video of ``duration_s`` seconds (rounded to the nearest count)."""
    return max(1, int(np.floor(duration_s * rate_hz + 0.5)))


def sample_times(duration_s: float, rate_hz: float) -> np.ndarray:
    """The sampling grid ``k / rate_hz`` for k = 0 .. num_sampled_frames - 1, in seconds."""
    return np.arange(num_sampled_frames(duration_s, rate_hz)) / rate_hz


def iter_sampled_frames(path: str | Path, rate_hz: float, size: tuple[int, int] | None = None,
                        num_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (k, frame) for k = 0 .. n-1: the decoded frame nearest in time to ``k / rate_hz``.

    ``n`` is ``num_frames`` if given, else ``num_sampled_frames(duration, rate_hz)``. Grid times after the last
    decoded frame repeat the last frame. Decodes the file once, sequentially.
    """
    path = Path(path)
    if num_frames is None:
        num_frames = num_sampled_frames(video_info(path).duration_s, rate_hz)
    k = 0
    prev: tuple[float, np.ndarray] | None = None
    for time_s, frame in iter_frames(path, size):
        # Emit every grid time that lies closer to ``prev`` than to this frame (or at/before this frame's time).
        while k < num_frames and k / rate_hz <= time_s:
            target = k / rate_hz
            if prev is not None and target - prev[0] <= time_s - target:
                yield k, prev[1]
            else:
                yield k, frame
            k += 1
        if k >= num_frames:
            return
        prev = (time_s, frame)
    while prev is not None and k < num_frames:
        yield k, prev[1]
        k += 1


def read_sampled_frames(path: str | Path, rate_hz: float, size: tuple[int, int] | None = None,
                        num_frames: int | None = None) -> np.ndarray:
    """All frames of ``iter_sampled_frames`` stacked: (n, H, W, 3) uint8."""
    frames = [frame for _, frame in iter_sampled_frames(path, rate_hz, size, num_frames)]
    return np.stack(frames)


class _AudioTrack:
    """The first audio stream of ``source`` written into ``output``: packets copied when mp4 holds the codec, else
    decoded and re-encoded to AAC (mono from the first channel when the source has more than two). Source times
    are shifted by ``-offset_s`` (the source video's start time, so that picture and sound stay together)."""

    def __init__(self, source: Path, output: av.container.OutputContainer, offset_s: float = 0.0):
        self.source = source
        self.container = _open_media(source)
        if not self.container.streams.audio:
            self.container.close()
            raise InputError(source, "file has no audio stream")
        self.in_stream = self.container.streams.audio[0]
        self.offset_s = float(offset_s)
        self.copy = self.in_stream.codec_context.name in MP4_AUDIO_CODECS
        if self.copy:
            self.out_stream = output.add_stream_from_template(self.in_stream)
        else:
            self.layout = "stereo" if self.in_stream.codec_context.channels == 2 else "mono"
            self.out_stream = output.add_stream("aac", rate=self.in_stream.codec_context.sample_rate,
                                                layout=self.layout)
        self._packets = self._generate()
        self._pending: tuple[float, av.Packet] | None = None
        self.output = output

    def _generate(self) -> Iterator[tuple[float, av.Packet]]:
        """(time_s in the output, packet) in stream order."""
        try:
            if self.copy:
                shift = int(round(self.offset_s / self.in_stream.time_base))
                for packet in self.container.demux(self.in_stream):
                    if packet.dts is None:  # the demuxer's final empty packet
                        continue
                    packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
                    packet.stream = self.out_stream
                    yield float(packet.pts * packet.time_base), packet
                return
            resampler = av.AudioResampler(format="fltp")
            for frame in self.container.decode(self.in_stream):
                for planar in resampler.resample(frame):
                    data = planar.to_ndarray()
                    if data.shape[0] > 2:
                        data = data[:1]
                    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=self.layout)
                    out.sample_rate = planar.sample_rate
                    start = float(planar.pts * planar.time_base) if planar.pts is not None else 0.0
                    out.pts = int(round((start - self.offset_s) * planar.sample_rate))
                    out.time_base = Fraction(1, planar.sample_rate)
                    for packet in self.out_stream.encode(out):
                        yield float(packet.pts * packet.time_base), packet
            for packet in self.out_stream.encode(None):
                yield float(packet.pts * packet.time_base), packet
        except av.error.FFmpegError as exc:
            raise InputError(self.source, f"corrupt or truncated audio ({exc})") from exc

    def mux_until(self, time_s: float) -> None:
        """Write every packet that starts before ``time_s`` (output seconds)."""
        while True:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    return
            if self._pending[0] >= time_s:
                return
            self.output.mux(self._pending[1])
            self._pending = None

    def close(self) -> None:
        self._packets.close()
        self.container.close()


class VideoWriter:
    """Write RGB uint8 frames (H, W, 3) to an H.264 mp4, atomically (a temporary name renamed on success).

    >>> with VideoWriter("out.mp4", (360, 180), STARSS_VIDEO_RATE) as writer:
    ...     writer.write(frame)
    Width and height must be even (yuv420p). ``crf`` is x264's quality (lower = better, 18 ~ visually lossless),
    ``preset`` its speed; ``threads`` = 0 lets FFmpeg choose (1 gives the same bytes on every machine).
    ``faststart`` moves the index to the front (a second pass over the file). ``color`` picks the RGB -> YUV
    conversion: ``"swscale"`` (FFmpeg's) or ``"bt601"`` (OpenCV's BT.601 I420, faster on large frames).
    ``audio``: a media file whose first audio stream is added (see the module docstring), its times shifted by
    ``-audio_offset_s``; InputError when it has none.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], rate: Fraction | float, crf: int = 18,
                 preset: str = "veryfast", threads: int = 0, faststart: bool = True, color: str = "swscale",
                 audio: str | Path | None = None, audio_offset_s: float = 0.0):
        width, height = size
        if width % 2 or height % 2:
            raise ValueError(f"H.264 (yuv420p) needs an even width and height, got {width}x{height}")
        self.path = Path(path)
        self.size = (int(width), int(height))
        self.rate = rate if isinstance(rate, Fraction) else Fraction(rate).limit_denominator(1001)
        self.crf = crf
        self.preset = preset
        self.threads = threads
        self.faststart = faststart
        if color not in _COLOR_CONVERSIONS:
            raise ValueError(f"unknown color conversion {color!r}; choose from {_COLOR_CONVERSIONS}")
        self.color = color
        self.audio = None if audio is None else Path(audio)
        self.audio_offset_s = audio_offset_s
        self.count = 0
        self._atomic = None
        self._container = None
        self._stream = None
        self._audio: _AudioTrack | None = None

    def __enter__(self) -> VideoWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        options = {"movflags": "+faststart"} if self.faststart else {}
        self._container = av.open(str(tmp), mode="w", format="mp4", container_options=options)
        stream = self._container.add_stream("libx264", rate=self.rate)
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.threads:
            stream.codec_context.thread_count = self.threads
        self._stream = stream
        if self.audio is not None:
            try:
                self._audio = _AudioTrack(self.audio, self._container, self.audio_offset_s)
            except BaseException as exc:
                self._container.close()
                self._atomic.__exit__(type(exc), exc, exc.__traceback__)
                raise
        return self

    def write(self, frame: np.ndarray, repeat: int = 1) -> None:
        """Append one RGB uint8 frame of the writer's size, ``repeat`` times (converted once)."""
        frame = np.ascontiguousarray(frame)
        if frame.dtype != np.uint8 or frame.shape != (self.size[1], self.size[0], 3):
            raise ValueError(f"expected uint8 frame of shape {(self.size[1], self.size[0], 3)}, "
                             f"got {frame.dtype} {frame.shape}")
        if self.color == "bt601":
            video_frame = av.VideoFrame.from_ndarray(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        else:
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.time_base = 1 / self.rate
        for _ in range(repeat):
            video_frame.pts = self.count
            for packet in self._stream.encode(video_frame):
                self._container.mux(packet)
            self.count += 1
        if self._audio is not None:
            self._audio.mux_until(float(self.count / self.rate))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            try:
                if exc_type is None:
                    for packet in self._stream.encode(None):
                        self._container.mux(packet)
                    if self._audio is not None:
                        self._audio.mux_until(float(self.count / self.rate))
            finally:
                if self._audio is not None:
                    self._audio.close()
                self._container.close()
        except BaseException as error:
            self._atomic.__exit__(type(error), error, error.__traceback__)
            raise
        self._atomic.__exit__(exc_type, exc, tb)


def write_video(path: str | Path, frames: Iterable[np.ndarray] | np.ndarray, rate: Fraction | float,
                crf: int = 18) -> int:
    """Write RGB uint8 frames (an (N, H, W, 3) array or an iterable of (H, W, 3)) to an mp4; returns N."""
    iterator = iter(frames)
    try:
        first = np.asarray(next(iterator))
    except StopIteration:
        raise ValueError("write_video needs at least one frame") from None
    with VideoWriter(path, (first.shape[1], first.shape[0]), rate, crf=crf) as writer:
        writer.write(first)
        for frame in iterator:
            writer.write(np.asarray(frame))
        return writer.count
