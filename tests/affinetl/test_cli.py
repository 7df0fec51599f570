"""The ``affinetl`` command line: one error convention, --version, -v/-q, defaults in --help."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pandas as pd
import pytest

import affinetl
from affinetl import cli
from affinetl.cli import COMMANDS, build_parser, main
from affinetl.reproduce import CASES


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``affinetl argv`` run in this process."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse: --help, --version and option errors
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def _assert_user_error(status: int, err: str, prog: str) -> None:
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: ")
    assert "Traceback" not in err


def test_demo_synthetic_writes_table_and_figure(tmp_path, capsys):
    status, out, _ = _run(
        ["demo", "--synthetic", "--out", str(tmp_path), "--n-train", "40"], capsys
    )
    assert status == 0
    table = pd.read_csv(tmp_path / "demo_scores.csv")
    assert set(table["model"]) >= {"AffineTL-full", "Direct", "SourceOnly"}
    assert (tmp_path / "demo_components.png").stat().st_size > 0
    assert "AffineTL-full" in out


@pytest.mark.parametrize("command", [*COMMANDS, *(f"reproduce {case}" for case in CASES)])
def test_every_command_reports_a_bad_option_on_one_line(command, capsys):
    status, _, err = _run([*command.split(), "--no-such-option"], capsys)
    _assert_user_error(status, err, f"affinetl {command}")


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--synthetic", "--n-train", "-5"],
        ["demo", "--synthetic", "--splits", "3"],
        ["demo", "--n-train", "30"],
        ["demo", "--n-jobs", "0"],
        ["reproduce", "density", "--reps", "0"],
        ["reproduce", "sarcos", "--n-values", "7"],
        ["reproduce", "ltc", "--splits", "-1"],
        ["reproduce", "polymer-cp", "--synthetic", "--splits", "0"],
        ["reproduce", "spectra", "--n-sarcos", "0"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_user_errors_exit_2_without_traceback(argv, capsys, tmp_path):
    status, _, err = _run([*argv, "--out", str(tmp_path)], capsys)
    prog = " ".join(["affinetl", *argv[: 2 if argv[0] == "reproduce" else 1]])
    _assert_user_error(status, err, prog)


@pytest.mark.parametrize("argv", [["demo", "--synthetic"], ["reproduce", "ltc", "--quick"]])
def test_an_output_folder_that_cannot_be_made_is_a_user_error(argv, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    status, _, err = _run([*argv, "--out", str(blocker / "out")], capsys)
    _assert_user_error(
        status, err, " ".join(["affinetl", *argv[: 2 if argv[0] == "reproduce" else 1]])
    )


def test_missing_data_is_one_line_and_exit_2_from_the_console_script(tmp_path):
    env = {
        **os.environ,
        "AFFINETL_DATA_MIRROR": str(tmp_path / "no-mirror"),
        "AFFINETL_DATA_DIR": str(tmp_path / "empty-cache"),
        "AFFINETL_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "affinetl.cli", "demo", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    _assert_user_error(proc.returncode, proc.stderr, "affinetl demo")
    assert "AFFINETL_OFFLINE" in proc.stderr


def _fake_demo(monkeypatch, action):
    """Replace what ``affinetl demo`` runs (the wiring under test is the command line's)."""
    import affinetl.demo

    monkeypatch.setattr(affinetl.demo, "run", action)


def test_an_unexpected_error_keeps_its_traceback(monkeypatch):
    def broken(args):
        raise RuntimeError("a bug")

    _fake_demo(monkeypatch, broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["demo"])


def test_version(capsys):
    status, out, _ = _run(["--version"], capsys)
    assert status == 0
    assert out.strip() == f"affinetl {affinetl.__version__}"


def _subparsers(parser):
    """Every (name, parser) below the top level, nested ones included."""
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            yield name, sub
            if sub._subparsers is not None:
                yield from ((f"{name} {n}", p) for n, p in _subparsers(sub))


def test_every_command_takes_verbose_and_quiet_and_shows_defaults():
    parser = build_parser()
    assert {"-v", "-q", "--version"} <= set(parser._option_string_actions)
    for name, sub in _subparsers(parser):
        assert {"-v", "-q"} <= set(sub._option_string_actions), name
        assert sub.formatter_class is cli.HelpFormatter, name


def test_help_shows_defaults(capsys):
    status, out, _ = _run(["demo", "--help"], capsys)
    out = " ".join(out.split())  # argparse wraps lines at the terminal width
    assert status == 0
    assert "(default: results/demo)" in out
    assert "(default: None)" not in out


def _logging_demo(args) -> int:
    logging.getLogger("affinetl.demo").info("an info message")
    logging.getLogger("affinetl.demo").debug("a debug message")
    logging.getLogger("affinetl.demo").warning("a warning")
    return 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["demo"], {"a warning"}),
        (["demo", "-v"], {"a warning", "an info message"}),
        (["-v", "demo"], {"a warning", "an info message"}),
        (["demo", "-vv"], {"a warning", "an info message", "a debug message"}),
        (["demo", "-q"], set()),
        (["-q", "demo"], set()),
        (["-v", "demo", "-q"], {"a warning"}),
    ],
)
def test_verbose_and_quiet_before_or_after_the_command(argv, expected, monkeypatch, caplog):
    _fake_demo(monkeypatch, _logging_demo)
    caplog.set_level(logging.NOTSET)
    assert main(argv) == 0
    assert {r.getMessage() for r in caplog.records if r.name == "affinetl.demo"} == expected
    assert logging.getLogger("affinetl").level == logging.NOTSET  # restored after the run


@pytest.mark.parametrize(("level", "disable"), [(logging.ERROR, True), (logging.WARNING, None)])
def test_progress_bars_follow_quiet(level, disable, monkeypatch, caplog):
    """-q (the affinetl logger above WARNING) hides the bars; otherwise tqdm shows them on a
    terminal (``disable=None``)."""
    import tqdm.auto

    from affinetl.reproduce._common import progress

    seen = {}

    def fake_tqdm(iterable, **kwargs):
        seen.update(kwargs)
        return iterable

    monkeypatch.setattr(tqdm.auto, "tqdm", fake_tqdm)
    caplog.set_level(level, logger="affinetl")  # restored after the test
    assert list(progress(range(3), total=3, desc="x")) == [0, 1, 2]
    assert seen["disable"] is disable
    assert seen["total"] == 3
