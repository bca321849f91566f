"""Training the alphabet level (:mod:`gns_pyro.models.alphabet`): nets and styles by SVI.

The model is GenerateAlphabet over the training drawings: a plate of alphabets, each with its
style ``z_a ~ Normal(0, I)``, and a plate of drawings, each an observed type of its alphabet.
An ``AutoNormal`` guide holds q(z_a) of every training alphabet; the nets (trained weights to
start from, given a zero-initialized :class:`~gns_pyro.nets.style.StyleAdapter`) are fitted
jointly, through ``pyro.module``, by ``pyro.infer.SVI`` with ``Trace_ELBO``. A minibatch of
drawings stands for all of them (the drawings' sites are scaled by ``N / batch``), and the
whole ELBO is divided by ``N``: the loss reads as nats per drawing. The style's own
parameters (adapter and guide) learn at ``lr_style``, the nets at ``lr_nets``.

At the end the style dimensions are rescaled so the training alphabets' styles spread as the
prior does (:func:`rescale_styles`; no likelihood changes). After each epoch the validation
drawings (held-out characters of the training alphabets) are
scored three ways: with ``z = 0`` (the nets as an unconditional prior), with ``z`` marginalized
(:func:`~gns_pyro.models.alphabet.marginal_type_log_prob`) and with their alphabet's posterior
mean style; the starting weights are scored on the same drawings. A checkpoint is written
atomically after each epoch; ``resume=True`` continues from it.

Example (shell)::

    gns-pyro train-alphabet --init-weights weights/type_prior_v3_frame.pt --style-dim 8 \\
        --strokes ../shared/omniglot-reconstructed/strokes_background.zip --out runs/alphabet
"""

from __future__ import annotations

import dataclasses
import math
import platform
import time
from pathlib import Path

import pyro
import torch
from pyro import poutine
from pyro.infer.autoguide import AutoNormal

import gns_pyro
from gns_pyro.devices import resolve_device
from gns_pyro.errors import GNSError
from gns_pyro.fileio import atomic_write_bytes, file_sha256, save_json
from gns_pyro.models.alphabet import STYLE_SITE, generate_alphabet, marginal_type_log_prob
from gns_pyro.models.character import CharacterParts, styled_observation
from gns_pyro.pretrained import load_type_prior, save_type_prior
from gns_pyro.reading import UntrustedFile, load_tensors
from gns_pyro.train.augment import augment
from gns_pyro.train.loop import batches, evaluate_nll, load_training_data
from gns_pyro.train.settings import TrainSettings

#: what a run writes in its folder
WEIGHTS_NAME, RECORD_NAME, CHECKPOINT_NAME = (
    "alphabet_prior.pt",
    "alphabet_prior.json",
    "checkpoint.pt",
)
#: style draws per validation drawing for the marginalized NLL
MARGINAL_SAMPLES = 32


@dataclasses.dataclass(frozen=True)
class StyleSettings:
    """Settings of a :func:`train_alphabet_prior` run (stored in its checkpoint and record)."""

    init_weights: str  # trained type-prior weights to start from (the nets)
    style_dim: int = 8
    epochs: int = 2
    batch_size: int = 64
    lr_nets: float = 1e-4
    lr_style: float = 1e-2
    grad_clip: float = 5.0
    augment_scale: float = 0.15
    augment_shift: float = 6.0
    seed: int = 0
    val_fraction: float = 0.1
    exclude: tuple[str, ...] = ("Tagalog",)
    strokes: tuple[str, ...] = ()
    max_drawings: int | None = None
    min_stroke_length: float = 5.0
    device: str = "cpu"  # cpu, cuda, cuda:N or auto

    def data_settings(self) -> TrainSettings:
        """The type prior's training settings that choose the same data and split."""
        return TrainSettings(
            seed=self.seed,
            val_fraction=self.val_fraction,
            exclude=tuple(self.exclude),
            strokes=tuple(self.strokes),
            max_drawings=self.max_drawings,
            min_stroke_length=self.min_stroke_length,
        )


def alphabet_model(parts, alphabet_of, batch, num_alphabets: int, num_drawings: int) -> None:
    """GenerateAlphabet with ``batch`` observed, in nats per drawing of the whole set."""
    with poutine.scale(scale=1.0 / num_drawings):
        generate_alphabet(
            parts,
            alphabet_of,
            num_alphabets,
            parses=batch,
            types_scale=num_drawings / len(batch),
        )


def styled_nets(init_weights: str | Path, style_dim: int) -> CharacterParts:
    """The nets of ``init_weights`` with a fresh (zero) style adapter of ``style_dim``."""
    start = load_type_prior(init_weights)
    config = {**start.config(), "style_dim": style_dim}
    parts = CharacterParts.from_config(config)
    missing, unexpected = parts.load_state_dict(start.state_dict(), strict=False)
    if unexpected or any(not k.startswith("style.") for k in missing):
        raise GNSError(f"{init_weights}: weights do not fit the styled nets ({unexpected})")
    return parts


def _learning_rates(settings: StyleSettings):
    """pyro.optim's per-parameter arguments: the style's parameters at ``lr_style``."""

    def args(module_name, param_name):
        style = (
            module_name is None
            or "AutoNormal" in str(module_name)
            or param_name.startswith("style.")
        )
        return {"lr": settings.lr_style if style else settings.lr_nets}

    return args


@dataclasses.dataclass
class StyleRun:
    """What a run carries from epoch to epoch."""

    parts: CharacterParts
    guide: AutoNormal
    svi: pyro.infer.SVI
    optimizer: pyro.optim.PyroOptim
    alphabets: list[str]
    history: list = dataclasses.field(default_factory=list)
    next_epoch: int = 0
    steps: int = 0
    elapsed: float = 0.0

    def styles(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and standard deviation (A, D) of every training alphabet's style."""
        store = pyro.get_param_store()  # (what the guide reads, also after a resume)
        loc, scale = (store[name].detach().clone() for name in _guide_names())
        return loc, scale


def _guide_names() -> tuple[str, str]:
    return f"AutoNormal.locs.{STYLE_SITE}", f"AutoNormal.scales.{STYLE_SITE}"


def start_run(settings, train, checkpoint_path: Path, resume: bool, device) -> StyleRun:
    """Fresh styled nets and guide, or the state of ``checkpoint_path`` when resuming."""
    torch.manual_seed(settings.seed)
    pyro.set_rng_seed(settings.seed)
    pyro.clear_param_store()
    parts = styled_nets(settings.init_weights, settings.style_dim).to(device)
    alphabets = sorted(set(train.alphabets))
    guide = AutoNormal(alphabet_model)
    optimizer = pyro.optim.Adam(_learning_rates(settings), {"clip_norm": settings.grad_clip})
    scaled_guide = poutine.scale(guide, scale=1.0 / len(train))
    svi = pyro.infer.SVI(alphabet_model, scaled_guide, optimizer, pyro.infer.Trace_ELBO())
    run = StyleRun(parts, guide, svi, optimizer, alphabets)
    # set up the guide's parameters (one traced run of the model on a few drawings)
    first = train.parses[torch.arange(min(4, len(train)))].trim().to(device)
    index = {a: i for i, a in enumerate(alphabets)}
    first_alphabets = torch.tensor([index[a] for a in train.alphabets[: len(first)]])
    with pyro.validation_enabled(False):
        guide(parts, first_alphabets, first, len(alphabets), len(train))
    if not (resume and checkpoint_path.exists()):
        return run
    try:  # a regular file of sane size, loaded from the bytes read: tensors and plain values
        ckpt = load_tensors(checkpoint_path, "checkpoint", map_location=device)
    except UntrustedFile as err:
        raise GNSError(f"{err} (not a readable checkpoint); use another --out") from None
    needed = {"model", "style_loc", "style_scale", "optimizer", "history", "epoch", "steps"}
    if not isinstance(ckpt, dict) or not needed <= set(ckpt):
        raise GNSError(f"{checkpoint_path} is not a train-alphabet checkpoint; use another --out")
    if ckpt.get("settings") != _comparable(settings) or ckpt.get("alphabets") != alphabets:
        raise GNSError(
            f"{checkpoint_path} was made with other settings or data; use another --out "
            "or the same settings"
        )
    parts.load_state_dict(ckpt["model"])
    store = pyro.get_param_store()
    for name, value in zip(_guide_names(), (ckpt["style_loc"], ckpt["style_scale"])):
        store[name] = value.to(device)
    optimizer.set_state(ckpt["optimizer"])
    run.history, run.next_epoch = ckpt["history"], ckpt["epoch"] + 1
    run.steps, run.elapsed = ckpt["steps"], ckpt["elapsed"]
    return run


def _comparable(settings: StyleSettings) -> dict:
    """Settings as a checkpoint stores them (all but the epoch budget must match to resume)."""
    saved = dataclasses.asdict(settings)
    saved.pop("epochs")
    saved.pop("device")  # a run may resume on another device
    saved["exclude"], saved["strokes"] = list(settings.exclude), list(settings.strokes)
    return saved


def alphabet_indices(dataset, alphabets: list[str]) -> torch.Tensor:
    """The index in ``alphabets`` of each drawing's alphabet."""
    index = {a: i for i, a in enumerate(alphabets)}
    try:
        return torch.tensor([index[a] for a in dataset.alphabets], dtype=torch.long)
    except KeyError as err:
        raise GNSError(f"alphabet {err} has no style (not among the training alphabets)") from None


def train_epoch(run: StyleRun, train, settings: StyleSettings, epoch: int) -> float:
    """One pass of SVI steps over ``train``; returns the mean loss (nats per drawing)."""
    parts = run.parts
    parts.train()
    generator = torch.Generator().manual_seed(settings.seed * 1000 + epoch)
    labels = alphabet_indices(train, run.alphabets)
    total, steps = 0.0, 0
    with pyro.validation_enabled(False):
        for idx in batches(len(train), settings.batch_size, generator):
            batch = augment(
                train.parses[idx].trim(),
                settings.augment_scale,
                settings.augment_shift,
                generator,
                parts.image_size,
            )
            loss = run.svi.step(
                parts, labels[idx], batch.to(parts.device), len(run.alphabets), len(train)
            )
            if not math.isfinite(loss):
                raise GNSError(f"training loss became {loss} at epoch {epoch + 1}")
            total, steps = total + loss, steps + 1
            run.steps += 1
    return total / max(steps, 1)


@torch.no_grad()
def validation_nll(parts: CharacterParts, val, styles: torch.Tensor, labels, seed: int = 0):
    """NLL per drawing of ``val`` with z = 0, with z marginalized, and with its alphabet's
    style (``styles[labels]``)."""
    parts.eval()
    generator = torch.Generator().manual_seed(seed)
    zero, marginal, own = 0.0, 0.0, 0.0
    with pyro.validation_enabled(False):
        for idx in batches(len(val), 128):
            batch = val.parses[idx].trim().to(parts.device)
            # the nets run once per batch: each style only shifts their outputs
            base = parts.with_style(None).observe(batch)
            zero -= float(parts.observed_log_prob(base).sum())
            marginal -= float(
                marginal_type_log_prob(parts, batch, MARGINAL_SAMPLES, generator, base).sum()
            )
            shift = parts.style(styles[labels[idx]].to(parts.device))
            own -= float(parts.observed_log_prob(styled_observation(base, shift)).sum())
    return {
        "zero_style": zero / len(val),
        "marginal_style": marginal / len(val),
        "own_alphabet_style": own / len(val),
    }


@torch.no_grad()
def rescale_styles(parts: CharacterParts, loc: torch.Tensor, scale: torch.Tensor):
    """Rescale each style dimension so the training alphabets' styles spread as the prior
    Normal(0, I) does: z' = z / s and adapter columns W' = W s, s the spread (standard
    deviation over alphabets) of the posterior means per dimension. Every likelihood
    P(psi | z) is unchanged -- only ``W z`` reaches the nets -- but the prior now covers the
    styles that were learned. Without it the styles stay about 0.2 wide (the prior's pull is
    the KL of 29 alphabets against the likelihood of ~13,000 drawings, and the adapter grows
    instead), and styles drawn from the prior are ~5 times too strong.

    Returns the rescaled (loc, scale); the adapter of ``parts`` is changed in place."""
    spread = loc.std(0)
    if not float(spread.max()) > 0:
        raise GNSError("the training alphabets' styles did not move from zero: nothing learned")
    spread = spread.clamp_min(1e-2 * float(spread.max()))  # a dimension that stayed unused
    for layer in (parts.style.location, parts.style.offset, parts.style.end, parts.style.stop):
        layer.weight.mul_(spread.to(layer.weight))
    return loc / spread, scale / spread


def train_alphabet_prior(
    out_dir: str | Path,
    settings: StyleSettings,
    data_dir=None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Fit the alphabet level; writes ``alphabet_prior.pt`` (nets with their style adapter,
    loaded by :func:`~gns_pyro.pretrained.load_type_prior`) and ``alphabet_prior.json`` (data,
    settings, learning curve, validation NLLs, the training alphabets' styles)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(settings.device)  # CUDA asked for but absent: a clear error
    start = load_type_prior(settings.init_weights)  # a bad file is named before the data
    train, val = load_training_data(settings.data_settings(), data_dir, progress)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    run = start_run(settings, train, checkpoint_path, resume, device)
    val_labels = alphabet_indices(val, run.alphabets)
    for epoch in range(run.next_epoch, settings.epochs):
        t0 = time.perf_counter()
        loss = train_epoch(run, train, settings, epoch)
        nll = validation_nll(run.parts, val, run.styles()[0], val_labels)
        seconds = time.perf_counter() - t0
        run.elapsed += seconds
        run.history.append(
            {"epoch": epoch + 1, "steps": run.steps, "loss": loss, **nll, "seconds": seconds}
        )
        print(
            f"epoch {epoch + 1}: loss {loss:.2f}, val NLL {nll['zero_style']:.2f} (z = 0), "
            f"{nll['marginal_style']:.2f} (z marginalized), {nll['own_alphabet_style']:.2f} "
            f"(own alphabet's z), {seconds:.0f} s",
            flush=True,
        )
        run.next_epoch = epoch + 1
        loc, scale = run.styles()
        ckpt = {
            "epoch": epoch,
            "model": run.parts.state_dict(),
            "style_loc": loc,
            "style_scale": scale,
            "optimizer": run.optimizer.get_state(),
            "history": run.history,
            "steps": run.steps,
            "elapsed": run.elapsed,
            "settings": _comparable(settings),
            "alphabets": run.alphabets,
        }
        atomic_write_bytes(checkpoint_path, lambda tmp, ckpt=ckpt: torch.save(ckpt, tmp))
    if not run.history:
        raise GNSError("no epoch was trained (epochs = 0?)")
    run.parts.eval()
    loc, scale = rescale_styles(run.parts, *run.styles())
    final = validation_nll(run.parts, val, loc, val_labels)
    record = {
        "gns_pyro_version": gns_pyro.__version__,
        "torch_version": torch.__version__,
        "pyro_version": pyro.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {device}",
        "data": {
            "alphabets": run.alphabets,
            "train": {"drawings": len(train), "characters": len(set(train.character_ids))},
            "validation": {"drawings": len(val), "characters": len(set(val.character_ids))},
            "stroke_sources": train.sources,
        },
        "settings": {**_comparable(settings), "epochs": settings.epochs, "device": str(device)},
        "architecture": run.parts.config(),
        "epochs_run": len(run.history),
        "steps": run.steps,
        "wall_seconds": run.elapsed,
        "validation_nll": {
            **final,
            "start_weights": evaluate_nll(start, val.parses)["per_drawing"],
            "drawings": len(val),
        },
        "styles": {
            a: {
                "loc": [round(float(v), 5) for v in loc[i]],
                "scale": [round(float(v), 5) for v in scale[i]],
            }
            for i, a in enumerate(run.alphabets)
        },
        "history": run.history,
        "init_weights": {
            "path": str(settings.init_weights),
            "sha256": file_sha256(settings.init_weights),
        },
    }
    save_type_prior(run.parts, out_dir / WEIGHTS_NAME)
    record["weights_sha256"] = file_sha256(out_dir / WEIGHTS_NAME)
    save_json(record, out_dir / RECORD_NAME)
    run.parts.requires_grad_(False)
    pyro.clear_param_store()
    return record
