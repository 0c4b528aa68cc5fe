"""Rendering events onto 360-degree videos, the plots and the TensorBoard tags: answers known by construction."""
from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

import render_video
import seld
import seld_trainer
from metrics.dcase_csv import Event, write_prediction_csv, write_reference_csv
from util.conventions import CLASS_COLORS, CLASS_NAMES, NUM_CLASSES
from util.detection_io import Detections
from util.geometry import direction_to_equirect
from util.plots import CLASSWISE_PANELS, plot_classwise_scores, plot_doa_trajectory
from util.video_io import STARSS_VIDEO_RATE, VideoWriter, has_audio, iter_frames, video_info, write_video

GREY = 128


def _grey_video(path: Path, size: tuple[int, int], frames: int, audio: Path | None = None) -> Path:
    width, height = size
    with VideoWriter(path, size, STARSS_VIDEO_RATE, audio=audio) as writer:
        writer.write(np.full((height, width, 3), GREY, np.uint8), repeat=frames)
    return path


def _colour_mask(frame: np.ndarray, cls: int, tol: int = 40) -> np.ndarray:
    """Pixels within ``tol`` (per channel) of the class colour."""
    return (np.abs(frame.astype(int) - np.array(CLASS_COLORS[cls])) <= tol).all(axis=-1)


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    """(column, row) of a mask's pixel centres (pixel i covers [i, i + 1))."""
    rows, cols = np.nonzero(mask)
    return float(cols.mean() + 0.5), float(rows.mean() + 0.5)


def _no_temporaries(folder: Path) -> bool:
    return not list(folder.glob(".*"))


# ------------------------------------------------------------------------------------------ known positions
@pytest.mark.parametrize("size", [(360, 180), (1920, 960)])
def test_marker_sits_at_the_mapped_direction(tmp_path, size):
    """One source at (az 60, el 20): the red disc's centroid in the decoded output is the mapped pixel; frame count,
    size and rate equal the input's; no temporary file is left."""
    width, height = size
    video = _grey_video(tmp_path / "in.mp4", size, 9)  # 0.3 s: label frames 0, 1, 2
    pred = tmp_path / "pred.csv"
    write_prediction_csv(pred, [Event(f, 0, 0, 60.0, 20.0) for f in range(3)])
    out = tmp_path / "out" / "rendered.mp4"
    assert seld.main(["render", "--video", str(video), "--pred", str(pred), "--out", str(out), "--quiet"]) == 0
    info, src = video_info(out), video_info(video)
    assert (info.width, info.height, info.rate, info.num_frames) == (width, height, src.rate, 9)
    frames = [f for _, f in iter_frames(out)]
    assert len(frames) == 9
    expected = tuple(float(v) for v in direction_to_equirect(60.0, 20.0, width, height))
    assert expected == pytest.approx(((0.5 - 60 / 360) * width, (0.5 - 20 / 180) * height))
    for frame in frames:
        column, row = _centroid(_colour_mask(frame, 0))
        assert abs(column - expected[0]) < 2.0 and abs(row - expected[1]) < 2.0
    assert _no_temporaries(tmp_path / "out")


def test_reference_ring_and_prediction_disc_are_distinguishable():
    """A ring (reference) has no class colour at its centre, a disc (prediction) does; both centre on the mapped
    pixel; a marker at the seam shows on both edges."""
    frame = np.full((240, 480, 3), GREY, np.uint8)
    ref = Event(0, 1, 0, -45.0, -30.0)
    pred = Event(0, 3, 0, 90.0, 45.0)
    img = render_video.render_frame(frame, [pred], [ref])
    for event, hollow in ((ref, True), (pred, False)):
        col, row = (float(v) for v in direction_to_equirect(event.azimuth, event.elevation, 480, 240))
        mask = _colour_mask(img, event.cls)
        c, r = _centroid(mask)
        assert abs(c - col) < 1.0 and abs(r - row) < 1.0
        assert mask[int(row), int(col)] != hollow
    seam = render_video.render_frame(frame, [Event(0, 0, 0, 179.0, 0.0)])
    mask = _colour_mask(seam, 0)
    assert mask[:, :5].any() and mask[:, -5:].any()


def test_person_boxes_are_drawn_from_the_nearest_detection_frame(tmp_path):
    video = _grey_video(tmp_path / "in.mp4", (240, 120), 12)
    det = Detections("simulated", 10.0, 4, frames=np.array([3]), boxes=np.array([[0.25, 0.25, 0.5, 0.75]], np.float32),
                     scores=np.array([0.9], np.float32), labels=["person"])
    out = tmp_path / "boxes.mp4"
    render_video.render_video(video, [], out, detections=det, progress=False)
    frames = [f for _, f in iter_frames(out)]
    # 29.97 fps: video frames 8, 9, 10 (0.267, 0.300, 0.334 s) are nearest to detection frame 3 (0.3 s)
    white = [(f[30:90, 60:120].min(axis=-1) > 220).sum() for f in frames]
    assert [w > 50 for w in white] == [False] * 8 + [True] * 3 + [False]
    assert (frames[9][59, 60] > 220).all() and (frames[9][59, 90] < 180).all()  # the left edge, not the inside


# --------------------------------------------------------------------------------------- audio and atomicity
def test_audio_track_is_copied_replaced_or_left_out(tmp_path):
    from util.audio_io import write_audio

    sr = 24000
    t = np.arange(sr) / sr
    write_audio(tmp_path / "foa.wav", np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 4), sr)
    silent = _grey_video(tmp_path / "silent.mp4", (120, 60), 30)
    loud = _grey_video(tmp_path / "loud.mp4", (120, 60), 30, audio=tmp_path / "foa.wav")
    assert not has_audio(silent) and has_audio(loud)
    pred = tmp_path / "p.csv"
    write_prediction_csv(pred, [Event(0, 2, 0, 0.0, 0.0)])

    def audio_of(path: Path) -> tuple[str, int, float] | None:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                return None
            stream = c.streams.audio[0]
            samples = sum(f.samples for f in c.decode(stream))
            return stream.codec_context.name, stream.codec_context.channels, samples / stream.codec_context.sample_rate

    render_video.render_video(loud, pred, tmp_path / "copied.mp4", progress=False)
    codec, channels, seconds = audio_of(tmp_path / "copied.mp4")
    assert (codec, channels) == ("aac", 1) and abs(seconds - 30 / float(STARSS_VIDEO_RATE)) < 0.05
    render_video.render_video(silent, pred, tmp_path / "none.mp4", progress=False)
    assert audio_of(tmp_path / "none.mp4") is None
    render_video.render_video(silent, pred, tmp_path / "from_wav.mp4", audio=tmp_path / "foa.wav", progress=False)
    codec, channels, seconds = audio_of(tmp_path / "from_wav.mp4")  # FOA: W only
    assert (codec, channels) == ("aac", 1) and abs(seconds - 1.0) < 0.05
    render_video.render_video(loud, pred, tmp_path / "muted.mp4", audio=False, progress=False)
    assert audio_of(tmp_path / "muted.mp4") is None
    assert video_info(tmp_path / "copied.mp4").num_frames == 30


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys):
    frames = np.full((60, 120, 160, 3), GREY, np.uint8)
    frames[:, :, :, 0] = np.arange(60)[:, None, None] * 4  # changing content: a file big enough to cut
    good = tmp_path / "good.mp4"
    write_video(good, frames, STARSS_VIDEO_RATE)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: int(0.6 * good.stat().st_size)])  # index in front (faststart): truncated
    pred = tmp_path / "p.csv"
    write_prediction_csv(pred, [Event(0, 0, 0, 0.0, 0.0)])
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("0,0,0,zero,0\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cases = [(["--video", str(cut), "--pred", str(pred)], "cut.mp4"),
             (["--video", str(good), "--pred", str(bad_csv)], "bad.csv"),
             (["--video", str(tmp_path / "missing.mp4"), "--pred", str(pred)], "missing.mp4"),
             (["--video", str(good), "--pred", str(pred), "--audio", str(pred)], "p.csv")]
    for args, named in cases:
        capsys.readouterr()
        assert seld.main(["render", *args, "--out", str(out_dir / "o.mp4"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and named in err and len(err.splitlines()) == 1, err
        assert not list(out_dir.iterdir())  # neither the output nor a temporary file
    assert seld.main(["render", "--video", str(good), "--pred", str(pred), "--out", str(good), "--quiet"]) == 2
    assert video_info(good).num_frames == 60


def test_renders_a_synthetic_dataset_video(tiny_dataset, tmp_path):
    """The synthetic dataset's video with its reference CSV (as reference and, shifted by 10 deg, as prediction)
    and its simulated detections: same size, rate and frame count as the input."""
    from metrics.dcase_csv import read_reference_csv

    video = sorted((tiny_dataset / "video_dev").rglob("*.mp4"))[0]
    rel = video.relative_to(tiny_dataset / "video_dev").with_suffix(".csv")
    ref = tiny_dataset / "metadata_dev" / rel
    pred = tmp_path / "pred.csv"
    write_prediction_csv(pred, [Event(e.frame, e.cls, e.track, e.azimuth + 10.0, e.elevation)
                                for e in read_reference_csv(ref)])
    out = tmp_path / "synth.mp4"
    assert seld.main(["render", "--video", str(video), "--pred", str(pred), "--ref", str(ref), "--detections",
                      str(tiny_dataset / "detections_dev" / rel), "--out", str(out), "--quiet"]) == 0
    src, dst = video_info(video), video_info(out)
    assert (dst.width, dst.height, dst.rate, dst.num_frames) == (src.width, src.height, src.rate, src.num_frames)


# ------------------------------------------------------------------------------------------------- plots
def test_trajectory_plot_has_azimuth_and_elevation_panels(tmp_path):
    ref = [Event(f, 0, 0, 30.0, 10.0) for f in range(20)]
    pred = [Event(f, 1, 0, -90.0, -20.0) for f in range(5, 15)]
    fig = plot_doa_trajectory(pred, ref, "rec", tmp_path / "doa.png", num_frames=30)
    assert (tmp_path / "doa.png").stat().st_size > 1000 and _no_temporaries(tmp_path)
    az, el = fig.axes
    assert az.get_ylim() == (-180, 180) and el.get_ylim() == (-90, 90) and el.get_xlim() == (0, 3.0)
    rings, dots = az.collections  # reference first (open rings), then predictions (filled)
    assert np.allclose(rings.get_offsets()[:, 1], 30.0) and np.allclose(dots.get_offsets()[:, 1], -90.0)
    assert np.allclose(el.collections[1].get_offsets()[:, 1], -20.0)
    assert np.allclose(dots.get_facecolors()[0, :3], np.array(CLASS_COLORS[1]) / 255)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["prediction", "reference", CLASS_NAMES[0], CLASS_NAMES[1]]


def test_classwise_bars_show_the_scores(tmp_path):
    classwise = {name: {"F": c / 20, "LE": 10.0 * c, "LR": 1 - c / 20, "ER": 0.5, "SELD": 0.5}
                 for c, name in enumerate(CLASS_NAMES)}
    classwise[CLASS_NAMES[4]]["LE"] = math.nan
    result = {"F": 0.3, "LE": 60.0, "LR": 0.7, "classwise": classwise}
    fig = plot_classwise_scores(result, "scores", tmp_path / "cw.png")
    assert (tmp_path / "cw.png").is_file()
    for ax, (key, _, scale, _) in zip(fig.axes, CLASSWISE_PANELS):
        widths = [p.get_width() for p in ax.patches]
        expected = [0.0 if math.isnan(classwise[n][key]) else scale * classwise[n][key] for n in CLASS_NAMES]
        assert widths == pytest.approx(expected)
    assert len(CLASS_COLORS) == NUM_CLASSES == len(set(CLASS_COLORS))


# ----------------------------------------------------------------------------- training: TensorBoard and predict
@pytest.fixture(scope="module")
def tiny_run(tiny_dataset, tmp_path_factory):
    """30 training iterations of the default network (small sizes), validated twice."""
    from test_pipeline import tiny_config

    work = tmp_path_factory.mktemp("render_run")
    assert seld.main(["extract", "--data-dir", str(tiny_dataset), "--format", "foa", "--feature", "logmel_iv",
                      "--cache-dir", str(work / "cache"), "--workers", "1"]) == 0
    cfg = tiny_config(tiny_dataset, work / "cache")
    cfg.train.val_every = 15
    result = seld_trainer.train(cfg, run_dir=work / "run", progress=False)
    return tiny_dataset, Path(result["run_dir"])


def test_tensorboard_tags(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    _, run = tiny_run
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {"train/loss", "train/lr", "val/loss", "val/error_rate", "val/f_score", "val/localization_error_deg",
                "val/localization_recall", "val/seld_error", "best/seld_error",
                "val_classwise/f_score/female_speech", "val_classwise/localization_recall/knock"}
    assert expected <= scalars
    assert not {"val/LR", "val/ER", "val/F", "val/LE", "val/SELD"} & scalars  # nothing to mistake for train/lr
    assert [s.step for s in events.Scalars("val/seld_error")] == [15, 30]
    assert all(0 < s.value < 10 for s in events.Scalars("val/loss"))
    assert {"val/doa_trajectory", "val/classwise_scores"} <= set(events.Tags()["images"])
    content = events.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(content)
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["train.lr"].number_value == pytest.approx(3e-3)
    assert start.hparams["data.feature"].string_value == "logmel_iv"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert "val/seld_error" in {m.name.tag for m in experiment.metric_infos}
    assert (run / "val" / "classwise.png").is_file() and (run / "val" / "doa_trajectory.png").is_file()


def test_evaluate_plots_every_recording(tiny_run, tmp_path):
    data_dir, run = tiny_run
    out = tmp_path / "eval"
    assert seld.main(["evaluate", "--checkpoint", str(run / "checkpoints" / "best.pt"), "--data-dir", str(data_dir),
                      "--out", str(out), "--cache-dir", str(run.parent / "cache"), "--device", "cpu",
                      "--tta", "1"]) == 0
    plots = sorted(p.name for p in (out / "plots").rglob("*_doa.png"))
    assert plots == sorted(f"{p.stem}_doa.png" for p in (out / "pred").rglob("*.csv")) and len(plots) == 2
    assert (out / "classwise.png").is_file()


def test_predict_with_render(tiny_run, tmp_path):
    """seld.py predict --render on one wav and its video (single files, names unrelated): CSV, npy, plot and a
    rendered mp4 with the video's frames and the wav's sound."""
    data_dir, run = tiny_run
    wav = sorted((data_dir / "foa_dev").rglob("*.wav"))[-1]
    rel = wav.relative_to(data_dir / "foa_dev")
    video = tmp_path / "my_360.mp4"
    video.write_bytes((data_dir / "video_dev" / rel).with_suffix(".mp4").read_bytes())
    out = tmp_path / "p"
    assert seld.main(["predict", "--checkpoint", str(run / "checkpoints" / "last.pt"), "--input", str(wav),
                      "--video", str(video), "--detections", str((data_dir / "detections_dev" / rel).with_suffix(".csv")),
                      "--render", "--out", str(out), "--device", "cpu", "--no-progress", "--tta", "1"]) == 0
    for suffix in (".csv", ".npy", "_doa.png", "_render.mp4"):
        assert (out / f"{wav.stem}{suffix}").is_file(), suffix
    rendered, src = video_info(out / f"{wav.stem}_render.mp4"), video_info(video)
    assert (rendered.size, rendered.num_frames) == (src.size, src.num_frames)
    assert has_audio(out / f"{wav.stem}_render.mp4")
    assert seld.main(["predict", "--checkpoint", str(run / "checkpoints" / "last.pt"), "--input", str(wav),
                      "--render", "--out", str(tmp_path / "q"), "--device", "cpu", "--no-progress"]) == 2
