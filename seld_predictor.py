"""``seld.py predict``: run trained checkpoints (one, or several as an ensemble) on recordings without labels and
write ``<name>.npy`` (label-rate Multi-ACCDOA output), ``<name>.csv`` (decoded events) and ``<name>_doa.png``
(direction trajectories), optionally rendered onto the recording's video; and ``seld.py import-official``, which
converts an official AV-baseline state_dict into a checkpoint of this project.

Decoding and writers: ``seld_decoding``; models and checkpoints: ``seld_model``; sliding windows, TTA and
ensembles: ``seld_inference``; figures: ``util.plots``.
"""
from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from metrics.dcase_csv import Event
from seld_data_loader import crop_padded
from seld_decoding import check_smooth_frames, decode_recording, save_output_npy, write_events_csv
from seld_inference import TTA_SIZES, infer_ensemble
from seld_model import ModelBundle, load_ensemble, official_bundle, visual_member, write_checkpoint
from util.checkpoint import read_state_dict
from util.config import InferenceConfig
from util.cli import add_quiet_argument
from util.errors import InputError
from util.fileio import output_folder
from util.layout import list_recordings
from util.plots import plot_doa_trajectory
from util.runtime import resolve_device


def predict_recordings(loaded: ModelBundle | Sequence[ModelBundle], wavs: dict[str, Path], out_dir: str | Path,
                       visual_inputs: dict[str, np.ndarray] | None = None, inference: InferenceConfig | None = None,
                       progress: bool = True) -> dict[str, list[Event]]:
    """Run a loaded model (or an ensemble: :func:`load_ensemble`) on wav files (name -> path): writes
    ``<name>.npy``, ``<name>.csv`` and ``<name>_doa.png`` into ``out_dir``; returns the events per name."""
    from tqdm import tqdm

    from feature.base import FeatureConfig, build_extractor
    from feature.extract import extract_file

    members = [loaded] if isinstance(loaded, ModelBundle) else list(loaded)
    first = members[0]
    inference = inference or first.config.inference
    check_smooth_frames(inference.smooth_frames)
    extractor = build_extractor(FeatureConfig.from_dict(first.config.features))
    out_dir = Path(out_dir)
    results = {}
    for name, wav in tqdm(sorted(wavs.items()), desc="predict", unit="file", disable=not progress):
        feats = extract_file(wav, extractor)
        t_label = feats.shape[1] // first.frames_per_label
        visual = None
        if first.spec.visual != "none":
            shape = (t_label, *first.spec.visual_shape)
            v = (visual_inputs or {}).get(name)
            visual = np.zeros(shape, np.float32 if first.spec.visual == "vectors" else np.uint8) if v is None \
                else crop_padded(np.asarray(v), 0, t_label)
        output = infer_ensemble(members, feats, visual, inference)
        events = decode_recording(output, inference.threshold, inference.merge_deg, inference.smooth_frames,
                                  inference.official_decoding)
        save_output_npy(out_dir / f"{name}.npy", output.label_rate())
        write_events_csv(out_dir / f"{name}.csv", events)
        plot_doa_trajectory(events, None, name, out_dir / f"{name}_doa.png", t_label)
        results[name] = events
    return results


# ----------------------------------------------------------------------------------- seld.py import-official
def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py import-official``."""
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="state_dict saved by the official AV baseline (params_*.pth) or a .safetensors file")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint of this project to write (.pt)")
    parser.add_argument("--format", default="foa", choices=("foa", "mic"), help="audio it was trained on")


def run_import(args: argparse.Namespace) -> int:
    """Convert an official AV-baseline state_dict into a checkpoint of this project (evaluate / predict read the
    official file directly too, as FOA)."""
    state = read_state_dict(args.checkpoint)
    if state is None:
        raise InputError(args.checkpoint, "not a readable state_dict (torch.save of name -> tensor, or .safetensors)")
    try:
        bundle = official_bundle(state, args.format)
    except ValueError as exc:
        raise InputError(args.checkpoint, str(exc)) from exc
    write_checkpoint(args.out, bundle)
    print(f"wrote {args.out}: avcrnn with the official weights ({args.format}, amp_phasediff, official settings)")
    return 0


# ------------------------------------------------------------------------------------------ seld.py predict
def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py predict``."""
    from detection.base import DEFAULT_DETECTOR

    parser.add_argument("--checkpoint", required=True, type=Path, nargs="+",
                        help="training checkpoint (best.pt / last.pt) or an official AV-baseline state_dict "
                             "(params_*.pth); several: run them as an ensemble")
    parser.add_argument("--input", required=True, type=Path, help="a wav file or a folder of wav files (recursive)")
    parser.add_argument("--out", required=True, type=Path, help="output folder for .npy, .csv and _doa.png files")
    parser.add_argument("--detections", type=Path, default=None,
                        help="folder of detection CSVs (object_detection.py) named like the wav files, or the "
                             "detection file of a single --input wav")
    parser.add_argument("--video", type=Path, default=None,
                        help="folder of mp4 videos named like the wav files, or the video of a single --input wav "
                             "(frames for av_vit; else run through --detector unless --detections has them)")
    parser.add_argument("--render", action="store_true",
                        help="also write <name>_render.mp4: the predictions drawn onto the --video "
                             "(render_video.py; the video's sound, else the wav's first channel)")
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, help="detector backend for --video")
    parser.add_argument("--detector-weights", default=None,
                        help="weights of the detector backend (default: the backend's own, see object_detection.py)")
    parser.add_argument("--threshold", type=float, default=None, help="activity threshold (default: the checkpoint's)")
    parser.add_argument("--window", type=float, default=None,
                        help="inference window in seconds (default: the checkpoint's inference.window_s)")
    parser.add_argument("--hop", type=float, default=None,
                        help="inference hop in seconds (default: the checkpoint's inference.hop_s)")
    parser.add_argument("--tta", type=int, default=None, choices=TTA_SIZES,
                        help="test-time augmentation: average over this many FOA transforms (logmel_iv only; "
                             "default: the checkpoint's inference.tta)")
    parser.add_argument("--smooth", type=int, default=None,
                        help="moving average of the output over this many label frames before decoding (odd; 1 = "
                             "none; default: the checkpoint's inference.smooth_frames)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_quiet_argument(parser)


def _files_by_name(path: Path | None, suffix: str, names: dict[str, Path]) -> dict[str, Path]:
    """Files per recording name: those named like the recordings in a folder (searched recursively), or one file
    given for the single recording of ``names``."""
    if path is None:
        return {}
    if path.is_file():
        if len(names) != 1:
            raise InputError(path, f"one file for {len(names)} recordings: give a folder of {suffix} files named "
                                   f"like the wav files")
        return {next(iter(names)): path}
    if not path.is_dir():
        raise InputError(path, "file or folder not found")
    return {p.stem: p for p in sorted(path.rglob(f"*{suffix}")) if not p.name.startswith(".")}


def _visual_inputs(loaded: ModelBundle, names: dict[str, Path], args: argparse.Namespace,
                   detections: dict | None = None) -> dict[str, np.ndarray]:
    """Visual inputs per recording at the label rate: Gaussian vectors from detection CSVs or from videos run
    through a person detector (vector models), or 10 fps frames decoded from videos (``av_vit``). The detections
    read or computed are put into ``detections`` (name -> util.detection_io.Detections) when given."""
    kind = loaded.spec.visual
    if kind == "none" or loaded.config.model.audio_only:
        return {}
    found: dict[str, np.ndarray] = {}
    videos = _files_by_name(args.video, ".mp4", names)
    detections = {} if detections is None else detections
    if kind == "frames":
        from util.conventions import LABEL_FPS
        from util.video_io import iter_sampled_frames

        height, width, _ = loaded.spec.visual_shape
        for name in names:
            if name in videos:
                found[name] = np.stack([f for _, f in iter_sampled_frames(videos[name], LABEL_FPS, (width, height))])
    else:
        from feature.visual import VisualSpec, recording_vectors
        from util.detection_io import read_detections

        spec = VisualSpec(num_boxes=loaded.spec.visual_shape[1], num_points=loaded.spec.visual_shape[2])
        files = _files_by_name(args.detections, ".csv", names)
        detections.update({n: read_detections(files[n]) for n in names if n in files})
        todo = [n for n in names if n in videos and n not in detections]
        if todo:
            from detection.base import build_detector
            from object_detection import detect_video

            detector = build_detector(args.detector, weights=args.detector_weights, device=str(loaded.device))
            detections.update({n: detect_video(videos[n], detector) for n in todo})
        found.update({n: recording_vectors(detections[n], spec) for n in names if n in detections})
    missing = sorted(set(names) - set(found))
    if missing:
        print(f"note: no visual input ({'--video' if kind == 'frames' else '--detections/--video'}) for "
              f"{len(missing)} recording(s), e.g. {missing[0]}; the model sees zeros there")
    return found


def run_predict(args: argparse.Namespace) -> int:
    """Predict DCASE CSVs (+ raw .npy and a DOA-trajectory PNG) for unlabelled wav recordings."""
    with output_folder(args.out):  # an output folder that cannot be made stops the command before any work
        if args.render and args.video is None:
            raise InputError(None, "--render needs --video (the 360-degree video of the recording)")
        members = load_ensemble(args.checkpoint, resolve_device(args.device))
        loaded = visual_member(members)
        if args.input.is_file():
            wavs = {args.input.stem: args.input}
        else:
            recs = list_recordings(args.input, ".wav")
            if not recs:
                raise InputError(args.input, "no .wav files found")
            wavs = {r.name: args.input / r.split_dir / f"{r.name}.wav" for r in recs}
            if len(wavs) != len(recs):
                raise InputError(args.input, "two wav files share a name")
        inference = dataclasses.replace(
            loaded.config.inference,
            **{k: v for k, v in (("threshold", args.threshold), ("window_s", args.window), ("hop_s", args.hop),
                                     ("tta", args.tta), ("smooth_frames", args.smooth))
               if v is not None})
        detections: dict = {}
        results = predict_recordings(members, wavs, args.out, _visual_inputs(loaded, wavs, args, detections),
                                     inference, progress=not args.quiet)
    print(f"wrote {len(wavs)} prediction CSV(s), .npy outputs and DOA plots to {args.out}")
    if args.render:
        _render_predictions(results, wavs, args, detections)
    return 0


def _render_predictions(results: dict[str, list[Event]], wavs: dict[str, Path], args: argparse.Namespace,
                        detections: dict) -> None:
    """``<name>_render.mp4`` in ``args.out`` for every recording with a video: its predicted events and the person
    boxes the model saw (or those of ``--detections``) drawn on it; sound from the video, else from the wav."""
    from render_video import render_video
    from util.detection_io import read_detections
    from util.video_io import has_audio

    videos = _files_by_name(args.video, ".mp4", wavs)
    files = _files_by_name(args.detections, ".csv", wavs)
    missing = sorted(set(results) - set(videos))
    if missing:
        print(f"note: no video for {len(missing)} recording(s), e.g. {missing[0]}; not rendered")
    for name in sorted(set(results) & set(videos)):
        det = detections.get(name) or (read_detections(files[name]) if name in files else None)
        out = Path(args.out) / f"{name}_render.mp4"
        render_video(videos[name], results[name], out, detections=det,
                     audio=None if has_audio(videos[name]) else wavs[name], progress=not args.quiet)
        print(f"wrote {out}")
