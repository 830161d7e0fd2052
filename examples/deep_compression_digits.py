"""Deep Compression on a small scale: train, prune 90%, share 16 values, with sparsenet.torch.

An MLP learns scikit-learn's handwritten digits (bundled with scikit-learn: no download). Then, as in
Han et al.'s Deep Compression, its weights are

1. pruned by magnitude (``sparsenet.torch.sparsify``: SparseLinear layers) to 50%, 75% and 90%,
   fine-tuned after each step (iterative pruning), the pruned weights staying zero;
2. shared: the surviving weights of each layer replaced by the nearest of 16 values found by
   k-means (``sparsenet.torch.share``: SharedSparseLinear layers, 4-bit codes), and the 16 values
   fine-tuned.

Each stage prints its test accuracy and the stored size of the model (``stored_nbytes``: values or
4-bit codes, column indices and row pointers in their narrowest integer type, biases in float32).

    python examples/deep_compression_digits.py [--epochs 60] [--finetune-epochs 10]

Measured (seed 0, one thread): dense 98.00%, pruned to 90% and fine-tuned 97.33%, shared to 16
values and fine-tuned 98.00%, 16.2x smaller than the dense float32 model.
"""
import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import sparsenet.torch as snt


def digits(seed):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.float32) / 16.0, y, test_size=0.25, random_state=seed, stratify=y)
    return (torch.from_numpy(X_train), torch.from_numpy(y_train),
            torch.from_numpy(X_test), torch.from_numpy(y_test))


def train(model, X, y, epochs, lr, seed, batch=64):
    """Adam on mini-batches of cross-entropy; only the model's parameters move (the structure of
    sparse and shared layers is in buffers)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(X.shape[0], generator=generator)
        for start in range(0, X.shape[0], batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            loss_fn(model(X[idx]), y[idx]).backward()
            optimizer.step()
    return model


@torch.no_grad()
def accuracy(model, X, y):
    model.eval()
    return float((model(X).argmax(dim=1) == y).float().mean()) * 100


def run(epochs=60, finetune_epochs=10, hidden=512, sparsities=(0.5, 0.75, 0.9), n_clusters=16,
        seed=0, verbose=True):
    """Train, prune in steps, share; returns {stage: (accuracy in %, stored bytes)}."""
    torch.manual_seed(seed)
    X_train, y_train, X_test, y_test = digits(seed)
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    results = {}

    def report(stage):
        results[stage] = (accuracy(model, X_test, y_test), snt.stored_nbytes(model))
        if verbose:
            acc, size = results[stage]
            ratio = results["dense"][1] / size
            print(f"{stage:<28} accuracy {acc:6.2f}%   stored {size:7d} bytes   "
                  f"{ratio:5.1f}x smaller than dense float32")

    train(model, X_train, y_train, epochs, 1e-3, seed)
    report("dense")
    for step, sparsity in enumerate(sparsities):
        model = snt.sparsify(model, sparsity=sparsity)  # prunes SparseLinear layers further
        train(model, X_train, y_train, finetune_epochs, 1e-3, seed + 1 + step)
        report(f"pruned {sparsity:.0%} + fine-tuned")
    model = snt.share(model, n_clusters=n_clusters)
    report(f"shared {n_clusters} values")
    train(model, X_train, y_train, finetune_epochs, 1e-3, seed + 1 + len(sparsities))
    report(f"shared {n_clusters} + fine-tuned")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a small model: more threads only wait for each other
    results = run(args.epochs, args.finetune_epochs, seed=args.seed)
    (dense_acc, dense_size), (final_acc, final_size) = (results["dense"],
                                                        list(results.values())[-1])
    print(f"\naccuracy {final_acc - dense_acc:+.2f} points against dense, "
          f"{dense_size / final_size:.1f}x smaller")


if __name__ == "__main__":
    main()
