"""The CLI's error contract: one `error:` line on stderr, exit 2 for bad input, no traceback."""

from __future__ import annotations

import subprocess
import sys

from sottovoce.cli import main


def test_unknown_command_is_one_line_exit_2(cli):
    r = cli("no-such-command")
    assert r.code == 2
    assert r.err.startswith("error:") and r.err.count("\n") == 1
    assert "Traceback" not in r.err


def test_unknown_option_is_one_line_exit_2(cli):
    r = cli("--no-such-option")
    assert r.code == 2 and r.err.startswith("error:") and r.err.count("\n") == 1


def test_help_exits_0(cli):
    r = cli("--help")
    assert r.code == 0
    assert "sottovoce" in r.out


def test_console_script_entry_point():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from sottovoce.cli import run; sys.argv=['sottovoce','--help']; run()"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_main_returns_int():
    assert isinstance(main(["--help"]), int)
