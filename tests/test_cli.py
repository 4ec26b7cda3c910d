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


def test_version(capsys):
    import curate

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"curate {curate.__version__}"


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


def test_a_corpus_without_input_files_cannot_start(tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.txt").write_text("not a corpus")
    code = main(["run", "--corpus", str(tmp_path / "corpus"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "holds no WARC/ARC/WET, JSONL or Parquet file (1 other file(s) skipped)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_corpus_of_empty_files_says_nothing_was_read(ray_session, tmp_path, capsys):
    """Empty input files: the run finishes with a balanced 0 = 0 + 0 card, says that nothing was
    read and exits 3; its mix (the shipped pipeline's) says there was nothing to mix."""
    import json

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.jsonl").write_text("")
    (tmp_path / "corpus" / "b.jsonl").write_text("")
    code = main(["run", "--corpus", str(tmp_path / "corpus"), "--out", str(tmp_path / "out"), "--cards-dir", str(tmp_path / "cards")])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "nothing was read: the corpus's 2 input file(s) hold no document" in err
    card = json.loads((tmp_path / "out" / "card.json").read_text())
    assert card["ledger"]["input_documents"] == 0 and card["ledger"]["balanced"]
    assert card["mix"]["notes"] == ["nothing to mix: the run kept no document"]
    assert main(["audit", str(tmp_path / "out")]) == 0
