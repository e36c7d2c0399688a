"""Two Keras examples ported to torch: parameter tables for docs/porting.md.

    python tools/porting_example.py [--builds 3] [--seed 0]

Builds each Keras model as published in the Keras examples (keras.io/examples/vision/
mnist_convnet and keras.io/examples/nlp/bidirectional_lstm_imdb) on the TensorFlow backend and
its torch port, ``--builds`` times each, and prints one markdown table per model and
initialization: per torch parameter, the std of Keras's values, the std of torch's values, the
std of the target distribution keras_init_ draws from, and the two-sample KS p-value of
torch's values against Keras's (pooled over the builds).  Once after parity.keras_init_, once
with torch's default initialization.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from parity.modules import keras_init_, keras_init_plan

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# --------------------------------------------------------------------------- the torch ports


class MnistConvnet(nn.Module):
    """keras.io/examples/vision/mnist_convnet: two 3x3 convs with max pooling, a softmax head."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.dropout = nn.Dropout(0.5)
        self.dense = nn.Linear(5 * 5 * 64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return torch.softmax(self.dense(self.dropout(x.flatten(1))), dim=1)


class ImdbBidirectionalLSTM(nn.Module):
    """keras.io/examples/nlp/bidirectional_lstm_imdb: embedding, two bidirectional LSTMs."""

    def __init__(self, max_features: int = 20000) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max_features, 128)
        self.lstm = nn.LSTM(128, 64, num_layers=2, bidirectional=True, batch_first=True)
        self.dense = nn.Linear(128, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(self.embedding(tokens))
        last = torch.cat([hidden[-2], hidden[-1]], dim=1)  # the second layer, both directions
        return torch.sigmoid(self.dense(last))


# --------------------------------------------------------------------------- the Keras models


def keras_mnist_convnet(keras):
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )


def keras_imdb_lstm(keras):
    layers = keras.layers
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(20000, 128)(inputs)
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(64))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def mnist_weights(model) -> dict[str, np.ndarray]:
    conv1, conv2, dense = (layer for layer in model.layers if layer.weights)
    return {
        "conv1.weight": conv1.kernel,
        "conv1.bias": conv1.bias,
        "conv2.weight": conv2.kernel,
        "conv2.bias": conv2.bias,
        "dense.weight": dense.kernel,
        "dense.bias": dense.bias,
    }


def imdb_weights(model) -> dict[str, np.ndarray]:
    embedding, first, second, dense = (layer for layer in model.layers if layer.weights)
    out = {"embedding.weight": embedding.embeddings}
    for index, bidirectional in enumerate((first, second)):
        for suffix, lstm in (
            ("", bidirectional.forward_layer),
            ("_reverse", bidirectional.backward_layer),
        ):
            cell = lstm.cell
            out[f"lstm.weight_ih_l{index}{suffix}"] = cell.kernel
            out[f"lstm.weight_hh_l{index}{suffix}"] = cell.recurrent_kernel
            out[f"lstm.bias_ih_l{index}{suffix} + bias_hh"] = cell.bias
    out |= {"dense.weight": dense.kernel, "dense.bias": dense.bias}
    return out


def torch_weights(model: nn.Module) -> dict[str, np.ndarray]:
    params = dict(model.named_parameters())
    out = {}
    for name, value in params.items():
        if ".bias_hh" in name:
            continue
        if ".bias_ih" in name:  # torch adds two biases where Keras has one
            value = value + params[name.replace("bias_ih", "bias_hh")]
            name = f"{name} + bias_hh"
        out[name] = value.detach().numpy()
    return out


def target_std(model: nn.Module) -> dict[str, float]:
    """The std of the mixture of every target keras_init_ writes into each parameter."""
    parts: dict[str, list[tuple[int, float, float]]] = {}
    for entry in keras_init_plan(model):
        if entry.weight == "bias_hh (zero)":
            continue
        size = math.prod(entry.keras_shape)
        for name in entry.parameters:
            name = f"{name} + bias_hh" if ".bias_ih" in name else name
            parts.setdefault(name, []).append((size, entry.target.mean, entry.target.variance))
    stds = {}
    for name, pieces in parts.items():
        total = sum(size for size, _, _ in pieces)
        mean = sum(size * m for size, m, _ in pieces) / total
        second = sum(size * (v + m * m) for size, m, v in pieces) / total
        stds[name] = math.sqrt(max(second - mean * mean, 0.0))
    return stds


# --------------------------------------------------------------------------- the tables


def pooled(builds: int, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    runs = [make() for _ in range(builds)]
    return {
        name: np.concatenate([np.asarray(run[name]).ravel() for run in runs]) for name in runs[0]
    }


def table(keras_values, torch_values, targets) -> str:
    from scipy.stats import ks_2samp

    rows = [
        "| torch parameter | values | Keras std | torch std | target std | KS p-value |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, keras_sample in keras_values.items():
        torch_sample = torch_values[name]
        p_value = ks_2samp(torch_sample, keras_sample).pvalue
        rows.append(
            f"| `{name}` | {torch_sample.size:,} | {keras_sample.std():.4g} | "
            f"{torch_sample.std():.4g} | {targets[name]:.4g} | {p_value:.3g} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=3, help="builds pooled per side")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import keras

    keras.utils.set_random_seed(args.seed)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    models = [
        ("Simple MNIST convnet", MnistConvnet, keras_mnist_convnet, mnist_weights),
        ("Bidirectional LSTM on IMDB", ImdbBidirectionalLSTM, keras_imdb_lstm, imdb_weights),
    ]
    for title, port, build_keras, read_keras in models:
        keras_values = pooled(
            args.builds,
            lambda b=build_keras, r=read_keras: {k: v.numpy() for k, v in r(b(keras)).items()},
        )
        targets = target_std(port())
        ported = pooled(
            args.builds, lambda p=port: torch_weights(keras_init_(p(), generator=generator))
        )
        default = pooled(args.builds, lambda p=port: torch_weights(p()))
        print(f"### {title}: after `parity.keras_init_`\n")
        print(table(keras_values, ported, targets))
        print(f"\n### {title}: torch's default initialization\n")
        print(table(keras_values, default, targets))
        print()
    print(f"Keras {keras.version()} (TensorFlow backend), torch {torch.__version__}, "
          f"{args.builds} builds pooled per side, seed {args.seed}.")  # fmt: skip


if __name__ == "__main__":
    main()
