"""One CLI vocabulary: every command takes --quiet, shows its defaults in --help and hides former spellings."""
from __future__ import annotations

import argparse
import importlib

import pytest

import seld
from util.cli import HIDDEN_ALIASES, DefaultsHelpFormatter

#: the standalone scripts: module -> its parser (seld.py's subcommands are in seld.SUBCOMMANDS)
STANDALONE = ("synthesize_dataset", "object_detection", "npy2csv", "resize_video", "wav_convertor", "resample",
              "render_video")
#: commands without progress bars (nothing for --quiet to silence)
NO_PROGRESS = {"import-official", "score", "runs"}


def subcommand_help(name: str) -> str:
    parser = seld.build_parser(name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name].format_help()


def standalone_help(module: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(["--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", [c.name for c in seld.SUBCOMMANDS])
def test_subcommand_help(name):
    text = subcommand_help(name)
    assert "(default:" in text or name == "runs"  # runs: only its questions have options (runs latest --help)
    assert (name in NO_PROGRESS) or "--quiet" in text
    assert not any(alias in text for alias in HIDDEN_ALIASES)


@pytest.mark.parametrize("module", STANDALONE)
def test_standalone_help(module, capsys):
    text = standalone_help(module, capsys)
    assert "--quiet" in text and "default" in text
    assert not any(alias in text for alias in HIDDEN_ALIASES)


def test_former_spellings_still_parse():
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    from util.cli import add_quiet_argument

    add_quiet_argument(parser)
    assert parser.parse_args(["--no-progress"]).quiet and parser.parse_args(["--quiet"]).quiet
    assert not parser.parse_args([]).quiet
    train = seld.build_parser("train")
    assert train.parse_args(["train", "--no-progress"]).quiet is True
    extract = seld.build_parser("extract")
    base = ["extract", "--data-dir", "d", "--format", "foa", "--feature", "logmel_iv"]
    assert extract.parse_args(base).splits == "all"
    assert extract.parse_args(base + ["--splits", "train,test"]).splits == "train,test"
    assert extract.parse_args(base + ["--split", "val"]).splits == "val"


def test_resample_old_and_new_flags(tmp_path, capsys):
    import resample

    for argv in (["--src", str(tmp_path / "none"), "--dst", str(tmp_path / "o")],
                 ["--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "o")]):
        assert resample.main(argv) == 2
        assert "none" in capsys.readouterr().err


def test_hidden_alias_keeps_the_rest_of_the_help():
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--out", "--dst", choices=("a", "b"), default="a", help="where")
    text = parser.format_help()
    assert "--out {a,b}  where (default: a)" in text and "--dst" not in text
    assert parser.parse_args(["--dst", "b"]).out == "b"


def test_one_set_of_split_values():
    import object_detection
    import resize_video
    from util.cli import SPLIT_CHOICES

    assert SPLIT_CHOICES == ("train", "val", "test", "all")
    assert object_detection.SPLITS == resize_video.SPLITS == SPLIT_CHOICES
    evaluate = next(a for a in seld.build_parser("evaluate")._subparsers._group_actions[0].choices["evaluate"]._actions
                    if a.dest == "split")
    assert tuple(evaluate.choices) == ("train", "val", "test")  # one split is evaluated: no "all"
