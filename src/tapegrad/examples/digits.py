"""Train a classifier on scikit-learn's bundled 8x8 handwritten digits (1797 images, no
download), written as ordinary PyTorch code that runs on tapegrad, or on PyTorch itself with
`--torch` for comparison.

    python -m tapegrad.examples.digits                 # MLP 64-128-64-10, Adam
    python -m tapegrad.examples.digits --model cnn     # a small CNN
    python -m tapegrad.examples.digits --torch         # the same script on PyTorch

Writes to --out (default ./digits-out): the weights (`tapegrad.save`), a loss/accuracy plot
(PNG), the model's graph (DOT, and SVG when Graphviz is installed) and metrics.json.
Needs the `examples` extra: scikit-learn, tqdm, matplotlib.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from types import ModuleType

__all__ = ["main", "build_model", "load_data", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tapegrad.examples.digits",
                                description="Train a digits classifier with tapegrad.")
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3, help="initial Adam learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="./digits-out", help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.add_argument("--torch", action="store_true", help="run on PyTorch instead of tapegrad")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads for the backend (set_num_threads), when it has them")
    return p.parse_args(argv)


def _backend(use_torch: bool) -> ModuleType:
    name = "torch" if use_torch else "tapegrad"
    torch = importlib.import_module(name)
    for sub in ("nn", "nn.functional", "optim", "utils.data"):  # make sure they are loaded
        importlib.import_module(f"{name}.{sub}")
    return torch


def load_data(torch: ModuleType, seed: int, image: bool):
    """(train, test) datasets: pixels scaled to [0, 1], a seeded 80/20 random_split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    if image:
        x = x.reshape(-1, 1, 8, 8)
    y = torch.tensor(digits.target, dtype=torch.int64)
    data = torch.utils.data
    full = data.TensorDataset(x, y)
    train, test = data.random_split(full, [0.8, 0.2],
                                    generator=torch.Generator().manual_seed(seed))
    return train, test


def build_model(torch: ModuleType, kind: str):
    nn = torch.nn
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(),
            nn.Linear(128, 64), nn.ReLU(),
            nn.Linear(64, 10),
        )
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16x4x4
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32x2x2
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10),
    )


def evaluate(torch: ModuleType, model, loader) -> tuple[float, float]:
    """(mean loss, accuracy) over a loader, without building a graph."""
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for xb, yb in loader:
            logits = model(xb)
            loss_sum += torch.nn.functional.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(dim=1) == yb).sum().item()
            count += yb.shape[0]
    model.train()
    return loss_sum / count, correct / count


def _progress(iterable, desc: str, quiet: bool):
    if quiet:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, leave=False, unit="batch")


def save_plot(history: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, history["train_loss"], label="train")
    ax1.plot(epochs, history["test_loss"], label="test")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy loss")
    ax1.legend()
    ax2.plot(epochs, [100 * a for a in history["test_acc"]], color="tab:green")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy (%)")
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_graph(torch: ModuleType, model, loss, out: str, stem: str) -> list[str]:
    """The autograd graph of one loss as DOT (and SVG with Graphviz's `dot`), when the
    backend has a `viz.make_dot`; returns the files written."""
    try:
        viz = importlib.import_module(torch.__name__ + ".viz")
    except ImportError:
        return []
    dot = viz.make_dot(loss, params=dict(model.named_parameters()))
    source = getattr(dot, "source", None) or str(dot)
    written = []
    dot_path = os.path.join(out, stem + ".dot")
    with open(dot_path, "w") as fh:
        fh.write(source)
    written.append(dot_path)
    exe = shutil.which("dot")
    if exe:
        svg_path = os.path.join(out, stem + ".svg")
        res = subprocess.run([exe, "-Tsvg", dot_path, "-o", svg_path], capture_output=True,
                             check=False, timeout=60)
        if res.returncode == 0:
            written.append(svg_path)
    return written


def main(argv: list[str] | None = None) -> dict:
    """Train, evaluate, and write the outputs; returns the metrics (also in metrics.json)."""
    args = parse_args(argv)
    torch = _backend(args.torch)
    name = torch.__name__
    if args.threads is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = load_data(torch, args.seed, image=args.model == "cnn")
    g = torch.Generator().manual_seed(args.seed)
    train_loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True,
                                               generator=g)
    test_loader = torch.utils.data.DataLoader(test, batch_size=256)
    model = build_model(torch, args.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # the learning rate follows half a cosine from lr to 0 over the run
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1))
    loss_fn = torch.nn.CrossEntropyLoss()
    log = (lambda *a: None) if args.quiet else print
    log(f"{name}: {args.model} on {len(train)} train / {len(test)} test digits, "
        f"{sum(p.numel() for p in model.parameters())} parameters")

    history: dict[str, list[float]] = {"train_loss": [], "test_loss": [], "test_acc": [],
                                       "epoch_time": []}
    last_loss = None
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        total, seen = 0.0, 0
        for xb, yb in _progress(train_loader, f"epoch {epoch}/{args.epochs}", args.quiet):
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * yb.shape[0]
            seen += yb.shape[0]
            last_loss = loss
        scheduler.step()
        elapsed = time.perf_counter() - start
        test_loss, test_acc = evaluate(torch, model, test_loader)
        for key, val in (("train_loss", total / seen), ("test_loss", test_loss),
                         ("test_acc", test_acc), ("epoch_time", elapsed)):
            history[key].append(val)
        log(f"epoch {epoch:3d}/{args.epochs}  train loss {total / seen:.4f}  "
            f"test loss {test_loss:.4f}  test acc {100 * test_acc:6.2f}%  {elapsed:.3f} s")

    os.makedirs(args.out, exist_ok=True)
    stem = f"digits-{args.model}" + ("-torch" if args.torch else "")
    files = [os.path.join(args.out, stem + ".pt")]
    torch.save(model.state_dict(), files[0])
    plot = os.path.join(args.out, stem + "-curves.png")
    save_plot(history, plot, f"{args.model.upper()} on digits ({name})")
    files.append(plot)
    if last_loss is not None:
        files += save_graph(torch, model, last_loss, args.out, stem + "-graph")
    epoch_times = history["epoch_time"]
    metrics = {
        "backend": name, "model": args.model, "epochs": args.epochs,
        "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "test_accuracy": history["test_acc"][-1] if epoch_times else None,
        "mean_epoch_seconds": sum(epoch_times) / len(epoch_times) if epoch_times else None,
        "median_epoch_seconds": statistics.median(epoch_times) if epoch_times else None,
        "history": history, "files": files,
    }
    with open(os.path.join(args.out, stem + "-metrics.json"), "w") as fh:
        json.dump(metrics, fh, indent=1)
    if epoch_times:
        print(f"{name} {args.model}: test accuracy {100 * metrics['test_accuracy']:.2f}%, "
              f"{1000 * metrics['median_epoch_seconds']:.1f} ms per epoch (median of "
              f"{args.epochs}); wrote {', '.join(files)}")
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
