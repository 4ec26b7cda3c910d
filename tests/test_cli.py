"""The console entry point: help texts, config errors before Ray starts, audit exit codes."""
import subprocess
import sys

import pytest
import yaml

from curate.cli import main


@pytest.mark.parametrize("command", ["run", "audit", "sample"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: curate " + command in capsys.readouterr().out


def test_console_script_is_installed():
    proc = subprocess.run([sys.executable, "-m", "curate.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "run" in proc.stdout and "audit" in proc.stdout


def test_bad_pipeline_fails_before_any_work_naming_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "stages": [{"stage": "length_filter", "params": {"min_wrds": 3}}]}))
    code = main(["run", "--pipeline", str(bad), "--corpus", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "stages[0] (length_filter): params.min_wrds: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_audit_of_a_missing_card_is_a_clear_error(tmp_path, capsys):
    assert main(["audit", str(tmp_path)]) == 2
    assert "no card.json found" in capsys.readouterr().err
