"""Exact resume (N iterations straight == N/2 + resume N/2, identical weights on CPU) and DDP on CPU (gloo,
2 processes through torch.multiprocessing, the same entry point torchrun uses)."""
from __future__ import annotations

import copy
import os
import re
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import seld
import seld_trainer
from seld_model import load_bundle, upgrade_checkpoint
from test_pipeline import tiny_config
from util.checkpoint import load_checkpoint, save_checkpoint
from util.config import RunConfig, config_from_dict, config_to_dict, load_config
from util.errors import InputError
from util.runtime import init_distributed


@pytest.fixture(scope="module")
def cache_dir(tiny_dataset, tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("resume_cache")
    assert seld.main(["extract", "--data-dir", str(tiny_dataset), "--format", "foa", "--feature", "logmel_iv",
                      "--cache-dir", str(cache), "--workers", "1"]) == 0
    return cache


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_resumed_runs_from_before_the_equalizer_go_on_without_it(tmp_path):
    saved = config_to_dict(tiny_config(tmp_path, tmp_path))
    saved["data"]["equalize_db"] = 3.0
    def resume_config(saved: dict) -> RunConfig:  # the config a resume reads from a checkpoint of that config
        return config_from_dict(upgrade_checkpoint({"config": copy.deepcopy(saved), "model": {}})["config"])

    assert resume_config(saved).data.equalize_db == 3.0
    del saved["data"]["equalize_db"]
    assert resume_config(saved).data.equalize_db == 0.0  # not the new default (6)
    assert config_from_dict(saved).data.equalize_db == 6.0


@pytest.mark.parametrize("ema, mix, doa", [(0.0, 0.0, "regress"), (0.9, 1.0, "intensity")])
def test_resume_is_exact(tiny_dataset, cache_dir, tmp_path, ema, mix, doa):
    # 8 iterations over 3-batch epochs: the interruption at 4 falls inside the second epoch
    def config():
        cfg = tiny_config(tiny_dataset, cache_dir, max_iters=8, checkpoint_every=100, val_every=100, ema=ema)
        cfg.data.mix = mix  # every window with a partner window mixed in
        cfg.data.masking = doa == "intensity"  # time-frequency masks (seeded per epoch) resume exactly too
        cfg.data.equalize_db = 6.0 if doa == "intensity" else 0.0  # and so do the random equaliser curves
        cfg.model.params["doa"] = doa
        return cfg

    straight = seld_trainer.train(config(), run_dir=tmp_path / "a", progress=False)
    first = seld_trainer.train(config(), run_dir=tmp_path / "b", stop_after=4, progress=False)
    interrupted = load_checkpoint(tmp_path / "b/checkpoints/last.pt")
    assert first["iteration"] == 4 and interrupted["iteration"] == 4
    resumed = seld_trainer.train(None, resume=tmp_path / "b", progress=False)
    assert resumed["iteration"] == 8
    # the training clock continues from the interrupted session
    assert load_checkpoint(tmp_path / "b/checkpoints/last.pt")["elapsed_s"] > interrupted["elapsed_s"] > 0
    assert straight["losses"] == first["losses"] + resumed["losses"]
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert load_config(tmp_path / "b/config.yaml").model.params["doa"] == doa
    # a checkpoint whose config does not name the head (from before the option) loads with the head of its weights
    old = load_checkpoint(tmp_path / "b/checkpoints/last.pt")
    del old["version"]  # the layout of version 1, read through seld_model.upgrade_checkpoint
    del old["config"]["model"]["params"]["doa"]
    save_checkpoint(tmp_path / "old.pt", {k: v for k, v in old.items() if k != "format"})
    assert load_bundle(tmp_path / "old.pt").network.doa == doa
    if doa == "intensity":  # the training statistics of the intensity channels travel with the weights
        assert load_config(tmp_path / "b/config.yaml").model.params["doa_context"] == 2
        assert load_bundle(tmp_path / "old.pt").network.head.context == 2
        # from before the frame context: no doa_context in the config, no frame_logits in the weights
        del old["config"]["model"]["params"]["doa_context"]
        save_checkpoint(tmp_path / "no_context.pt", {k: v for k, v in old.items() if k != "format"})
        assert load_bundle(tmp_path / "no_context.pt").network.head.context == 2  # the span read from the weights
        for state in (old["model"], old["ema"]["model"] if old.get("ema") else {}):
            for k in ("head.frame_logits.weight", "head.frame_logits.bias"):
                del state[k]
        save_checkpoint(tmp_path / "older.pt", {k: v for k, v in old.items() if k != "format"})
        assert load_bundle(tmp_path / "older.pt").network.head.context == 0
        stats = load_checkpoint(tmp_path / "b/checkpoints/last.pt")["feature_stats"]
        model = load_bundle(tmp_path / "b/checkpoints/last.pt").network
        assert torch.equal(model.intensity_mean, stats["mean"][[6, 4, 5]].float())
        assert torch.equal(model.intensity_std, stats["std"][[6, 4, 5]].float())
    if ema:  # the weight average resumes too, and differs from the weights
        ea = load_checkpoint(tmp_path / "a/checkpoints/last.pt")["ema"]
        eb = load_checkpoint(tmp_path / "b/checkpoints/last.pt")["ema"]
        assert ea["updates"] == eb["updates"] == 8
        for k in a:
            assert torch.equal(ea["model"][k], eb["model"][k]), k
        assert any(not torch.equal(ea["model"][k], a[k]) for k in a if k.endswith("weight"))


def test_resume_rejects_foreign_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(seld.InputError, match="not a checkpoint of this project"):
        seld_trainer.train(None, resume=tmp_path / "other.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, data_dir: str, cache: str, out: str, mode: str) -> None:
    """One rank of a 4-iteration gloo run: ``straight``, ``first`` (stops after 2) or ``resume`` (of ``first``)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    run_dir = Path(out) / ("straight" if mode == "straight" else "run")
    if mode == "resume":
        result = seld_trainer.train(None, resume=run_dir, progress=False)
    else:
        cfg = tiny_config(Path(data_dir), Path(cache), max_iters=4, batch_size=1, val_every=4, checkpoint_every=100)
        result = seld_trainer.train(cfg, run_dir=run_dir, progress=False, stop_after=2 if mode == "first" else None)
    model = result["model_state"]
    torch.save({k: v.clone() for k, v in model.items()}, Path(out) / f"{mode}_rank{rank}.pt")
    torch.distributed.destroy_process_group()


def _spawn(mode: str, tiny_dataset: Path, cache_dir: Path, out: Path) -> None:
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tiny_dataset), str(cache_dir), str(out), mode), nprocs=2,
             join=True)


def test_ddp_gloo_two_processes_and_exact_resume(tiny_dataset, cache_dir, tmp_path):
    _spawn("straight", tiny_dataset, cache_dir, tmp_path)
    w0 = torch.load(tmp_path / "straight_rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "straight_rank1.pt", weights_only=True)
    for k in w0:  # gradients are averaged: the replicas stay identical (BatchNorm running stats are per rank)
        if "running_" not in k and "num_batches" not in k:
            assert torch.equal(w0[k], w1[k]), k
    ckpt = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    assert ckpt["iteration"] == 4
    assert (tmp_path / "straight" / "val" / "metrics.json").is_file()
    # each rank's random stream (seeded seed + rank: its own dropout masks) is checkpointed and resumed
    ranks = ckpt["rng_ranks"]
    assert len(ranks) == 2 and not torch.equal(ranks[0]["torch"], ranks[1]["torch"])
    _spawn("first", tiny_dataset, cache_dir, tmp_path)
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["iteration"] == 2
    _spawn("resume", tiny_dataset, cache_dir, tmp_path)
    for rank in (0, 1):
        straight = torch.load(tmp_path / f"straight_rank{rank}.pt", weights_only=True)
        resumed = torch.load(tmp_path / f"resume_rank{rank}.pt", weights_only=True)
        for k in straight:
            assert torch.equal(straight[k], resumed[k]), (rank, k)


def test_ddp_needs_a_gpu_per_process(monkeypatch):
    """On CUDA, a second process on a node with one GPU is one clear error, not an NCCL failure."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InputError, match="only 1 GPU"):
        init_distributed("auto")


def _stderr_lines(capsys) -> list[str]:
    return [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if line.strip() and "%|" not in line]


def test_resume_with_incompatible_checkpoint_names_file_and_tensors(tiny_dataset, cache_dir, tmp_path, capsys):
    """Which tensors differ and how, in one line naming the checkpoint; train.log untouched, nothing created."""
    run = tmp_path / "run"
    seld_trainer.train(tiny_config(tiny_dataset, cache_dir, max_iters=4, checkpoint_every=100, val_every=100),
                       run_dir=run, stop_after=2, progress=False)
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    weights = ckpt["model"]
    name = next(k for k, v in weights.items() if v.dim() == 2)
    rows, cols = weights[name].shape
    weights[name] = torch.zeros(rows + 3, cols)
    dropped = sorted(weights)[-1]
    del weights[dropped]
    weights["extra.weight"] = torch.zeros(2)
    bad = run / "checkpoints" / "bad.pt"
    save_checkpoint(bad, ckpt)
    log_before = (run / "train.log").read_bytes()
    capsys.readouterr()
    assert seld.main(["train", "--resume", str(bad), "--no-progress"]) == 2
    assert _stderr_lines(capsys) == [
        f"error: {bad}: checkpoint does not fit this model: 1 tensor(s) of another shape ({name}: checkpoint "
        f"({rows + 3}, {cols}) vs model ({rows}, {cols})); 1 missing ({dropped}); 1 unexpected (extra.weight)"]
    assert (run / "train.log").read_bytes() == log_before
    # the same checkpoint copied outside its run folder: no train.log (nor anything else) appears beside it
    alien = tmp_path / "alien" / "checkpoints" / "last.pt"
    save_checkpoint(alien, ckpt)
    assert seld.main(["train", "--resume", str(tmp_path / "alien"), "--no-progress"]) == 2
    assert f"error: {alien}: checkpoint does not fit this model" in _stderr_lines(capsys)[0]
    assert sorted(p.relative_to(tmp_path / "alien").as_posix() for p in (tmp_path / "alien").rglob("*")) == [
        "checkpoints", "checkpoints/last.pt"]


def test_failed_start_leaves_no_run_folder(tiny_dataset, cache_dir, tmp_path):
    empty = tmp_path / "empty_dataset"
    empty.mkdir()
    cfg = tiny_config(empty, cache_dir)
    with pytest.raises(InputError, match="no .wav recordings found"):
        seld_trainer.train(cfg, out_root=tmp_path / "runs" / "nested", progress=False)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(InputError, match="no .wav recordings found"):
        seld_trainer.train(tiny_config(empty, cache_dir), run_dir=tmp_path / "exact", progress=False)
    assert not (tmp_path / "exact").exists()
    (tmp_path / "kept").mkdir()  # a folder the user made stays, without a train.log
    with pytest.raises(InputError, match="no .wav recordings found"):
        seld_trainer.train(tiny_config(empty, cache_dir), run_dir=tmp_path / "kept", progress=False)
    assert list((tmp_path / "kept").iterdir()) == []


def test_run_folder_that_cannot_be_made(tmp_path, capsys):
    blocker = tmp_path / "runs"
    blocker.write_text("a file\n")
    assert seld.main(["train", "--data-dir", str(tmp_path), "--run-dir", str(blocker / "r1"), "--no-progress"]) == 2
    assert _stderr_lines(capsys) == [f"error: {blocker / 'r1'}: cannot create the run folder (Not a directory)"]
