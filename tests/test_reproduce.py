"""The papermill runner: order, timings, stopping at the first failing notebook with its cell."""

import json
from pathlib import Path

import nbformat
import pytest

from tools import reproduce


def _notebook(path, code):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('RUN_DIR: str = ""\nRUN_MODE: str = "full"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture
def fake_notebooks(tmp_path, monkeypatch):
    d = tmp_path / "notebooks"
    d.mkdir()
    monkeypatch.setattr(reproduce, "NOTEBOOKS", d)
    return d


def test_runs_in_order_records_timings_and_stops_at_first_failure(fake_notebooks, tmp_path, capsys):
    log = tmp_path / "order.txt"
    _notebook(
        fake_notebooks / "01_preprocess.ipynb",
        f"open({str(log)!r}, 'a').write('01 ' + RUN_MODE + '\\n')",
    )
    _notebook(
        fake_notebooks / "02_encoder_decoder_hashtags.ipynb",
        "x = 1\nraise RuntimeError('boom in stage two')",
    )
    _notebook(
        fake_notebooks / "03_attention_baseline.ipynb", f"open({str(log)!r}, 'a').write('03\\n')"
    )
    run = tmp_path / "outputs" / "r1"
    code = reproduce.reproduce(str(run), "smoke", only=["01", "02", "03"])
    out = capsys.readouterr().out
    assert code == 1
    assert log.read_text() == "01 smoke\n"  # 03 never ran
    assert "[02_encoder_decoder_hashtags] FAILED" in out
    assert "RuntimeError: boom in stage two" in out
    assert "raise RuntimeError" in out  # the failing cell's source is shown
    timings = json.loads((run / "timings.json").read_text())
    assert set(timings) == {"01_preprocess"} and timings["01_preprocess"] >= 0
    assert (run / "executed" / "02_encoder_decoder_hashtags.ipynb").exists()


def test_run_names_map_to_outputs_folder(tmp_path, monkeypatch, capsys):
    assert reproduce.run_dir_for("default") == Path("outputs") / "default"
    assert reproduce.run_dir_for(str(tmp_path / "x")) == tmp_path / "x"
    monkeypatch.chdir(tmp_path)  # not a checkout: no notebooks/ here
    assert reproduce.reproduce("r", "smoke") == 2
    assert "run from the project's root" in capsys.readouterr().out
    assert not (tmp_path / "outputs").exists()


def test_params_can_be_scoped_to_one_stage():
    extra = reproduce.parse_params(["EPOCHS=3", "04:EPOCHS=8", "04:DROPOUT=0.5", "NAME=abc"])
    assert reproduce.for_stage(extra, "02_encoder_decoder_hashtags") == {"EPOCHS": 3, "NAME": "abc"}
    assert reproduce.for_stage(extra, "04_caption_decoder") == {
        "EPOCHS": 8,
        "DROPOUT": 0.5,
        "NAME": "abc",
    }
    for bad in ("EPOCHS", "04:", "09:EPOCHS=1", "04:1X=2"):
        with pytest.raises(ValueError, match="param"):
            reproduce.parse_params([bad])


def test_a_parameter_reaches_only_the_notebooks_that_have_it(fake_notebooks, tmp_path, monkeypatch):
    """`-p MAX_POSTS=...` goes to 01 only (papermill no longer warns "Passed unknown parameter"
    in 02-05), and a parameter no notebook of the run has is refused before any runs."""
    _notebook(fake_notebooks / "01_preprocess.ipynb", "")
    _notebook(fake_notebooks / "02_encoder_decoder_hashtags.ipynb", "")
    nb = nbformat.read(fake_notebooks / "01_preprocess.ipynb", as_version=4)
    nb.cells[0].source += "\nMAX_POSTS: int = 0"
    nbformat.write(nb, fake_notebooks / "01_preprocess.ipynb")
    ran = {}
    monkeypatch.setattr(reproduce, "execute", lambda stage, r, m, p: ran.update({stage: p}) or 0)
    run, only = str(tmp_path / "r"), ["01", "02"]
    extra = reproduce.parse_params(["MAX_POSTS=9", "RUN_MODE=smoke"])
    assert reproduce.reproduce(run, "smoke", only=only, extra=extra) == 0
    assert ran["01_preprocess"] == {"MAX_POSTS": 9, "RUN_MODE": "smoke"}
    assert ran["02_encoder_decoder_hashtags"] == {"RUN_MODE": "smoke"}
    ran.clear()
    for typo in (["MAX_POST=9"], ["02:MAX_POSTS=9"]):
        with pytest.raises(ValueError, match=f"--param {typo[0].split('=')[0]}: no notebook"):
            reproduce.declared_params(reproduce.parse_params(typo), list(reproduce.STAGES[:2]))
        assert reproduce.reproduce(run, "smoke", only, reproduce.parse_params(typo)) == 2
    assert not ran


def test_the_studies_after_05_run_only_when_named(fake_notebooks, tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(reproduce, "execute", lambda stage, *a, **kw: ran.append(stage) or 0.0)
    assert reproduce.reproduce(str(tmp_path / "r"), "smoke") == 0
    assert ran == list(reproduce.STAGES) and not set(reproduce.STUDIES) & set(ran)
    ran.clear()
    assert reproduce.reproduce(str(tmp_path / "r"), "smoke", only=["06"]) == 0
    assert ran == [reproduce.FUSION_STUDY]
    ran.clear()  # `--only` naming no stage (or none at all) ran nothing, or everything, before
    for only in (["99"], [], ["01", "8"]):
        assert reproduce.reproduce(str(tmp_path / "r"), "smoke", only=only) == 2
    assert not ran
    assert reproduce.parse_params(["07:LIMIT=0"]) == {"07:LIMIT": 0}
    for stage in reproduce.STUDIES:  # the fixture moved NOTEBOOKS: the checkout's own folder
        assert (Path(__file__).parents[1] / "notebooks" / f"{stage}.ipynb").is_file()


def test_notebook_kernels_talk_over_encrypted_channels(fake_notebooks, tmp_path, capfd):
    """The kernel's channels are CurveZMQ-encrypted where pyzmq has it (jupyter_client's
    transport_encryption "auto"), so ipykernel no longer warns at every notebook that its
    plain TCP channels can be eavesdropped on."""
    import zmq

    if not zmq.has("curve"):
        pytest.skip("this pyzmq has no CurveZMQ: the kernel runs on plain TCP")
    _notebook(fake_notebooks / "01_preprocess.ipynb", "print('ran')")
    assert reproduce.execute("01_preprocess", tmp_path / "run", "smoke") > 0
    err = capfd.readouterr().err
    assert "without encryption" not in err
    executed = nbformat.read(tmp_path / "run" / "executed" / "01_preprocess.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "ran\n"
    assert reproduce.kernel_config().KernelManager.transport_encryption == "auto"
