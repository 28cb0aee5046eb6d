"""The digits example (`python -m tapegrad.examples.digits`): it trains to the promised
accuracy, writes its files, and follows PyTorch's training run step for step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

import tapegrad  # noqa: E402
from tapegrad.examples import digits  # noqa: E402


def test_mlp_default_run_reaches_95_percent(tmp_path):
    out = str(tmp_path / "run")
    metrics = digits.main(["--out", out, "--quiet"])  # the defaults: MLP, 20 epochs
    assert metrics["backend"] == "tapegrad" and metrics["epochs"] == 20
    assert metrics["test_accuracy"] >= 0.95
    pt = os.path.join(out, "digits-mlp.pt")
    png = os.path.join(out, "digits-mlp-curves.png")
    assert pt in metrics["files"] and png in metrics["files"]
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out, "digits-mlp-metrics.json")) as fh:
        saved = json.load(fh)
    assert saved["test_accuracy"] == metrics["test_accuracy"]
    assert len(saved["history"]["test_acc"]) == 20
    if hasattr(tapegrad, "viz"):
        dot = os.path.join(out, "digits-mlp-graph.dot")
        assert dot in metrics["files"]
        with open(dot) as fh:
            text = fh.read()
        assert text.lstrip().startswith("digraph") and "AddmmBackward0" in text

    # the saved weights reproduce the reported accuracy
    model = digits.build_model(tapegrad, "mlp")
    model.load_state_dict(tapegrad.load(pt))
    _, test = digits.load_data(tapegrad, 0, image=False)
    loader = tapegrad.utils.data.DataLoader(test, batch_size=100)
    _, acc = digits.evaluate(tapegrad, model, loader)
    assert acc == metrics["test_accuracy"]


def test_cnn_trains(tmp_path):
    metrics = digits.main(["--model", "cnn", "--epochs", "3", "--out", str(tmp_path),
                           "--quiet", "--batch-size", "64"])
    assert metrics["test_accuracy"] >= 0.8
    assert os.path.exists(tmp_path / "digits-cnn.pt")


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_same_training_run_as_torch(tmp_path, model):
    pytest.importorskip("torch")
    args = ["--model", model, "--epochs", "2", "--quiet", "--seed", "3", "--threads", "1"]
    ours = digits.main(args + ["--out", str(tmp_path / "ours")])
    theirs = digits.main(args + ["--out", str(tmp_path / "theirs"), "--torch"])
    assert theirs["backend"] == "torch"
    assert os.path.exists(tmp_path / "theirs" / f"digits-{model}-torch.pt")
    for a, b in zip(ours["history"]["train_loss"], theirs["history"]["train_loss"]):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(b))
    assert ours["history"]["test_acc"] == theirs["history"]["test_acc"]


def test_progress_and_log_lines(tmp_path, capsys):
    digits.main(["--epochs", "1", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert "epoch   1/1  train loss" in captured.out
    assert "tapegrad mlp: test accuracy" in captured.out
    assert "epoch 1/1" in captured.err  # the tqdm bar


def test_module_entry_point():
    res = subprocess.run([sys.executable, "-m", "tapegrad.examples.digits", "--help"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    for opt in ("--model", "--epochs", "--batch-size", "--lr", "--seed", "--out", "--quiet",
                "--torch"):
        assert opt in res.stdout
