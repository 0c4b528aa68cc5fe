"""A whole synthetic dataset: plan the clips, make them in parallel processes, write list files and
``synthesis.json`` (every parameter, the seed and a summary of every clip)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from synth.clip import clip_summary, make_clip
from synth.config import SynthesisConfig, scene_source
from synth.plan import ClipPlan, plan_clips
from util.errors import InputError
from util.fileio import write_text_atomic
from util.layout import DatasetLayout
from util.parallel import run_parallel

GENERATOR_VERSION = 5  # 5: validation clips (dev-val-*, fold5_*); synthesis.json records scene_source


def check_writable(root: Path) -> None:
    """Create ``root`` if needed and check that files can be written in it; InputError otherwise."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test"):
            pass
    except OSError as exc:
        raise InputError(root, f"output folder is not writable ({exc.strerror or exc})") from exc


def list_file_lines(layout: DatasetLayout, fmt: str, plans: list[ClipPlan]) -> list[str]:
    """Relative audio paths like the official lists (``./<dataset folder>/foa_dev/<split>/<name>.wav``),
    relative to the parent of the dataset folder."""
    lines = []
    for p in plans:
        rel = (layout.audio_dir(fmt) / p.split_dir / f"{p.name}.wav").relative_to(layout.root.parent)
        lines.append(f"./{rel.as_posix()}")
    return lines


def write_lists(layout: DatasetLayout, config: SynthesisConfig, plans: list[ClipPlan]) -> list[Path]:
    """``list_dataset/dcase2023t3_<fmt>_{devtrain,devtest}[_audiovisual].txt`` for every format (and
    ``..._devval.txt`` when there are validation clips)."""
    written = []
    for fmt in config.formats:
        groups = {"devtrain": [p for p in plans if p.split == "train"],
                  "devtest": [p for p in plans if p.split == "test"]}
        if config.num_val:
            groups["devval"] = [p for p in plans if p.split == "val"]
        if config.video:  # every synthetic clip has a video
            groups["devtrain_audiovisual"] = groups["devtrain"]
        for key, members in groups.items():
            path = layout.list_dir / f"dcase2023t3_{fmt}_{key}.txt"
            write_text_atomic(path, "".join(line + "\n" for line in list_file_lines(layout, fmt, members)))
            written.append(path)
    return written


def synthesize_dataset(config: SynthesisConfig, out: str | Path, progress: bool = True) -> Path:
    """Make the dataset described by ``config`` under ``out`` (STARSS23 layout); returns its root."""
    root = Path(out).resolve()
    check_writable(root)
    layout = DatasetLayout(root)
    plans = plan_clips(config)
    # Longest clips first, so that the last worker does not finish long after the others.
    jobs = [(plan, config, root) for plan in sorted(plans, key=lambda p: -p.num_frames)]
    run_parallel(make_clip, jobs, workers=config.workers, desc="synthesising clips", progress=progress)
    summaries = [clip_summary(plan, config) for plan in plans]
    write_lists(layout, config, plans)
    record = {"generator": "synthesize_dataset.py", "generator_version": GENERATOR_VERSION,
              "scene_source": scene_source(config.annotations), "config": config.to_dict(), "clips": summaries}
    write_text_atomic(root / "synthesis.json", json.dumps(record, indent=1) + "\n")
    return root


def default_workers() -> int:
    """Worker processes by default: the CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
