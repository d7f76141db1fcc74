"""Networks with given weights: read from a file, or built to carry the linear approximation.

Both give the ``(W, b)`` pairs (float64, W of shape (out, in)) of a ReLU MLP
y = W_L ReLU(... ReLU(W_1 x + b_1) ...) + b_L whose input x is the network's features (on a box,
T = (A - A0) / eps, flattened row-major), to be copied into a :func:`.architecture.build_mlp` net.

- :func:`read_weights`: a JSON file with ``W1``, ``b1``, ..., ``WL``, ``bL`` (nested lists, the
  layout ``y = ReLU(x W1^T + b1) W2^T + b2`` in which the paper prints its 4-8-4 network in
  Appendix D.1) and an optional ``"output"``: ``"delta"`` (the default, the paper's: the net
  outputs (inv(A) - inv(A0)) / eps, so its inverse is inv(A0) + eps y) or ``"inverse"``.
- :func:`linear_layers`: the paper's equation (16), a 2-layer net with 2 n^2 hidden units that
  computes the first-order approximation inv(A0) - inv(A0) (eps T) inv(A0) exactly: with the
  approximation's map J T + c, hidden units h+ = ReLU(J T) and h- = ReLU(-J T), output
  c + h+ - h- (as printed, the paper adds h-, which gives c + |J T|; x = ReLU(x) - ReLU(-x)
  needs the minus).
- :func:`delta_to_inverse`: folds a delta output into the last layer, so that every network here
  maps features to the inverse itself; :func:`copy_into` puts the pairs into a torch network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from matinv_bench.errors import DataFileError

Layer = tuple[np.ndarray, np.ndarray]
OUTPUTS = ("delta", "inverse")


def read_weights(path: str | Path, layers: int) -> tuple[list[Layer], str]:
    """The ``layers`` (W, b) pairs stored in the JSON file ``path`` and its output kind.

    Raises :class:`DataFileError` naming the file for anything but a readable JSON object with
    finite ``W1``..``W{layers}``, ``b1``..``b{layers}`` of chained shapes, n^2 inputs and outputs,
    hidden layers of one width, and no weights of other layers.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFileError(f"weights: no such file {str(path)!r}")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(f"weights: cannot read {str(path)!r} as JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise DataFileError(f"weights: {str(path)!r} must hold a JSON object with W1, b1, W2, b2, ...")
    extra = sorted(k for k in raw if k[:1] in "Wb" and k[1:].isdigit() and not 1 <= int(k[1:]) <= layers)
    if extra:
        raise DataFileError(f"weights: {str(path)!r} holds {', '.join(extra)}: more than the {layers} layers "
                            f"of this network")
    out = []
    for i in range(1, layers + 1):
        try:
            W = np.array(raw[f"W{i}"], dtype=np.float64)
            b = np.array(raw[f"b{i}"], dtype=np.float64)
        except KeyError as exc:
            raise DataFileError(f"weights: {str(path)!r} has no {exc.args[0]} (a {layers}-layer network "
                                f"needs W1..W{layers} and b1..b{layers})") from None
        except (TypeError, ValueError) as exc:
            raise DataFileError(f"weights: W{i} or b{i} in {str(path)!r} is not an array of numbers ({exc})") from None
        if W.ndim != 2 or b.shape != (W.shape[0],) or (out and W.shape[1] != out[-1][0].shape[0]):
            raise DataFileError(f"weights: layer {i} of {str(path)!r} has W{i} of shape {W.shape} and b{i} of "
                                f"shape {b.shape}, which do not chain")
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise DataFileError(f"weights: layer {i} of {str(path)!r} holds NaN or Inf")
        out.append((W, b))
    n2, n = out[0][0].shape[1], int(round(np.sqrt(out[0][0].shape[1])))
    widths = {W.shape[0] for W, _ in out[:-1]}
    if n * n != n2 or out[-1][0].shape[0] != n2 or len(widths) != 1:
        raise DataFileError(f"weights: {str(path)!r} maps {n2} inputs to {out[-1][0].shape[0]} outputs through "
                            f"hidden widths {sorted(widths)}; expected n^2 inputs and outputs and one hidden width")
    output = raw.get("output", "delta")
    if output not in OUTPUTS:
        raise DataFileError(f"weights: 'output' in {str(path)!r} must be one of {', '.join(OUTPUTS)}, got {output!r}")
    return out, output


def linear_map(A0: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The first-order approximation inv(A0) - inv(A0) (eps T) inv(A0) as J vec(T) + c (row-major vec):
    J = -eps kron(P, P^T), c = vec(P) with P = inv(A0)."""
    P = np.linalg.inv(np.asarray(A0, dtype=np.float64))
    return -eps * np.kron(P, P.T), P.reshape(-1)


def linear_layers(A0: np.ndarray, eps: float) -> list[Layer]:
    """The paper's equation (16), with its sign corrected: 2 n^2 hidden units, h+- = ReLU(+-J T),
    output c + h+ - h-, equal to the linear approximation J T + c up to rounding."""
    J, c = linear_map(A0, eps)
    n2 = len(c)
    return [(np.vstack([J, -J]), np.zeros(2 * n2)), (np.hstack([np.eye(n2), -np.eye(n2)]), c)]


def delta_to_inverse(layers: list[Layer], A0: np.ndarray, eps: float) -> list[Layer]:
    """Fold a delta output y = (inv(A) - inv(A0)) / eps into the last layer: inv(A0) + eps y."""
    W, b = layers[-1]
    P = np.linalg.inv(np.asarray(A0, dtype=np.float64)).reshape(-1)
    return [*layers[:-1], (eps * W, eps * b + P)]


@torch.no_grad()
def copy_into(model: nn.Sequential, layers: list[Layer]) -> None:
    """Copy the (W, b) pairs into the Linear layers of ``model`` (same shapes), in its dtype."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if [lin.weight.shape for lin in linears] != [W.shape for W, _ in layers]:
        raise ValueError(f"layer shapes {[tuple(lin.weight.shape) for lin in linears]} differ from "
                         f"{[W.shape for W, _ in layers]}")
    for lin, (W, b) in zip(linears, layers):
        lin.weight.copy_(torch.from_numpy(W))
        lin.bias.copy_(torch.from_numpy(b))
