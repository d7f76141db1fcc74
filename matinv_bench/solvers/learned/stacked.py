"""Several MLPs of the same widths as one module, so that they train together in one step.

:class:`StackedMLP` holds the weights of S networks from :func:`.architecture.build_mlp` stacked
along a leading axis, weights (S, out, in) and biases (S, out), and runs all of them at once with
batched matrix products: ``x`` of shape (S, B, in) maps to (S, B, out), network s seeing only
``x[s]``. Nothing couples the networks: the gradient of a loss that is a sum of per-network
terms, with respect to network s's slice, is that network's own gradient, and any element-wise
optimiser (Adam, with or without weight decay) updates each slice exactly as it would update
that network alone; gradient clipping by a global norm would couple them (none is used).

:func:`make_step` builds the training step on such a stack (eager or ``torch.compile``d, see
:class:`StepOptions`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from matinv_bench.solvers.learned.architecture import build_mlp


def linear_layers(model: nn.Sequential) -> list[nn.Linear]:
    """The Linear layers of a ``build_mlp`` network; ValueError for any other layout (Linear,
    ReLU, Linear, ..., ReLU, Linear), which a stack could not reproduce."""
    mods = list(model)
    expected = [nn.Linear if i % 2 == 0 else nn.ReLU for i in range(len(mods))]
    if len(mods) % 2 == 0 or [type(m) for m in mods] != expected:
        raise ValueError("only Linear, ReLU, ..., Linear networks (build_mlp) can be stacked, got "
                         + ", ".join(type(m).__name__ for m in mods))
    return mods[0::2]


class StackedMLP(nn.Module):
    """S networks of identical widths, dtype and device as one module (copies of their weights)."""

    def __init__(self, models: Sequence[nn.Sequential]):
        super().__init__()
        if not models:
            raise ValueError("nothing to stack: no networks given")
        layers = [linear_layers(m) for m in models]
        shapes = [[(lin.weight.shape, lin.weight.dtype, lin.weight.device) for lin in ls] for ls in layers]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("networks stacked together must have the same widths, dtype and device")
        with torch.no_grad():
            self.weights = nn.ParameterList(
                nn.Parameter(torch.stack([ls[i].weight for ls in layers])) for i in range(len(layers[0])))
            self.biases = nn.ParameterList(
                nn.Parameter(torch.stack([ls[i].bias for ls in layers])) for i in range(len(layers[0])))

    def __len__(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(S, B, in) -> (S, B, out): network s applied to the B rows of ``x[s]``."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))  # b + x @ w^T, per network
            if i < last:
                x = torch.relu(x)
        return x

    @torch.no_grad()
    def load_from(self, models: Sequence[nn.Sequential]) -> None:
        """Copy ``models[s]``'s weights into network s of the stack (the reverse of :meth:`unstack_into`)."""
        if len(models) != len(self):
            raise ValueError(f"{len(self)} stacked networks, {len(models)} to copy from")
        for s, model in enumerate(models):
            for lin, w, b in zip(linear_layers(model), self.weights, self.biases):
                w[s].copy_(lin.weight)
                b[s].copy_(lin.bias)

    @torch.no_grad()
    def unstack_into(self, models: Sequence[nn.Sequential]) -> None:
        """Copy network s's weights back into ``models[s]`` (the networks it was built from)."""
        if len(models) != len(self):
            raise ValueError(f"{len(self)} stacked networks, {len(models)} to copy into")
        for s, model in enumerate(models):
            for lin, w, b in zip(linear_layers(model), self.weights, self.biases):
                lin.weight.copy_(w[s])
                lin.bias.copy_(b[s])


def per_network_mse(model: StackedMLP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(S,): network s's mean squared error on its batch ``(x[s], y[s])``, as ``mse_loss`` alone."""
    return ((model(x) - y) ** 2).mean(dim=(1, 2))


@dataclass(frozen=True)
class StepOptions:
    """How a training step of a :class:`StackedMLP` runs: eager torch (the default), or
    ``torch.compile``d with ``mode`` and ``backend``.

    With ``compile``, the forward pass and loss are compiled (AOTAutograd compiles the backward
    with them) and so is the optimiser's step (the learning rate must then be a tensor, so that
    the schedule changes it without a recompile: see :func:`make_step`); shapes are static, so
    the last, shorter batch of an epoch gets its own compiled graph. ``mode="reduce-overhead"``
    runs them as CUDA graphs on a GPU (the per-step kernel launches, not the flops, bound these
    small networks there). ``backend="aot_eager"`` traces without generating code (for tests).

    To measure on a GPU before turning it on, per (dataset, network) of the paper's recipe:
    the steps per second of eager, ``compile=True`` and ``mode="reduce-overhead"``; the compile
    time (it is paid once per shape and process, and must be small beside the training);
    that the compiled optimiser and the per-epoch learning-rate change do not recompile (run
    with ``TORCH_LOGS=recompiles``); that CUDA graphs reuse their static inputs (no
    "skipping cudagraphs" warnings); and that the trained weights agree with eager training to
    rounding (float32: about 1e-6 relative). On the CPU compiling pays only for big networks.

    A compiled Adam keeps its step count as a tensor of torch's default dtype (float32) and so
    rounds its bias corrections to float32; :func:`optimizer_scalars` makes them float64 for
    float64 networks, so that compiled and eager training agree to float64 rounding.
    """

    compile: bool = False
    mode: str | None = None  # torch.compile's mode: "reduce-overhead" adds CUDA graphs on a GPU
    backend: str = "inductor"
    prefetch: bool = True  # draw the next epoch's fresh training sets in threads while this epoch trains


def make_step(model: StackedMLP, opt: torch.optim.Optimizer,
              options: StepOptions = StepOptions()) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """One optimiser step on a batch ``(x, y)`` of shape (S, B, n^2): the loss is the SUM over
    networks of each one's mean squared error, so that network s's gradient is the gradient of
    its own loss; returns the (S,) losses (detached). A compiled step needs ``opt`` built with a
    tensor learning rate."""
    loss_fn = partial(per_network_mse, model)
    opt_step = opt.step
    if options.compile:
        if not all(isinstance(g["lr"], torch.Tensor) for g in opt.param_groups):
            raise ValueError("a compiled step needs the optimiser's learning rate as a tensor")
        kwargs = {"mode": options.mode, "backend": options.backend, "dynamic": False}
        loss_fn = torch.compile(loss_fn, **kwargs)
        opt_step = torch.compile(opt.step, **kwargs)

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if options.compile:
            torch.compiler.cudagraph_mark_step_begin()  # the previous step's graph outputs may be reused
        losses = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt_step()
        return losses.detach()

    return step


@contextmanager
def optimizer_scalars(dtype: torch.dtype) -> Iterator[None]:
    """Within the block, torch's default dtype is ``dtype`` when that is float64, so that an
    optimiser that initialises its state there (a compiled Adam, on its first step) keeps its
    step count in float64. Other tensors in a training step carry their own dtypes."""
    old = torch.get_default_dtype()
    if dtype == torch.float64:
        torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def step_rates(n: int, hidden: int, layers: int, seeds: int, batch: int, steps: int, device: str,
               dtype: torch.dtype, variants: dict[str, StepOptions]) -> list[dict]:
    """Measure training steps of a stack of ``seeds`` networks (n^2 -> hidden ... -> n^2, ``layers``
    linear layers, Adam at 1e-4) on one fixed random batch, for each named variant of the step (the
    first is the reference, normally eager). Per variant: ``first_step_s`` (the first call: the
    compile time, for a compiled step), ``steps_per_s`` over ``steps`` steps after 5 warm-up steps,
    ``speedup`` against the first variant, and ``max_rel_diff``: the largest relative difference of
    the weights from the first variant's after the same steps from the same initial weights (to
    rounding if the variant computes the same step). What :class:`StepOptions` asks to be measured
    on a GPU before a compiled step is turned on."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(seeds, batch, n * n, generator=gen, dtype=dtype).to(device)
    y = torch.randn(seeds, batch, n * n, generator=gen, dtype=dtype).to(device)
    torch.manual_seed(0)
    start = [build_mlp(n, hidden, layers, dtype) for _ in range(seeds)]
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    rows, reference = [], None
    for name, options in variants.items():
        model = StackedMLP(start).to(device)
        lr = torch.tensor(1e-4, dtype=torch.float64, device=device) if options.compile else 1e-4
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        step = make_step(model, opt, options)
        with optimizer_scalars(dtype) if options.compile else nullcontext():
            t0 = time.perf_counter()
            step(x, y)
            sync()
            first = time.perf_counter() - t0
            for _ in range(5):
                step(x, y)
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                step(x, y)
            sync()
            elapsed = time.perf_counter() - t0
        weights = torch.cat([w.detach().flatten() for w in model.parameters()]).double().cpu()
        reference = weights if reference is None else reference
        rows.append({"variant": name, "n": n, "hidden": hidden, "layers": layers, "stacked": seeds, "batch": batch,
                     "dtype": str(dtype).removeprefix("torch."), "device": device, "steps": steps,
                     "first_step_s": first, "steps_per_s": steps / elapsed,
                     "max_rel_diff": float(((weights - reference).abs().max() / reference.abs().max()).item())})
    for r in rows:
        r["speedup"] = r["steps_per_s"] / rows[0]["steps_per_s"]
    return rows
