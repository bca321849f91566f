"""Training the type prior: maximum likelihood of the observed GenerateType program, with SVI.

Conditioning the program on real drawings makes the canvas at stroke ``i`` the render of the
true strokes before it. Every site of ``generate_type(parts, parses=batch)`` is observed, so
with an empty guide ``Trace_ELBO`` is exactly the negative log-likelihood, and
``pyro.infer.SVI`` with ``pyro.optim.ReduceLROnPlateau`` (Adam, the learning rate decayed when
the validation NLL stalls) is maximum-likelihood training. The nets reach the optimizer through
``pyro.module`` and the param store, which is cleared first so it holds exactly these nets.

Data: the background stroke drawings of every available alphabet except those excluded
(default: Tagalog, held out for the parsing evaluation), strokes shorter than
``min_stroke_length`` pixels dropped (drawings left with none dropped too), split by character
(10% of characters, fixed seed) into training and validation. Each epoch writes a checkpoint
atomically; ``resume=True`` continues from it. Training stops early when the validation NLL has
not improved for ``early_stop`` epochs; the best epoch is kept, and the run ends with a JSON
record: data used, settings, epochs, steps, wall time and device, the learning curve, train and
validation NLL per drawing and per stroke, and two ablations (untrained nets; trained nets with
a blank canvas). The returned nets are frozen and in eval mode.

Two options go beyond maximum likelihood. ``frame_penalty`` adds to every step's loss the mass
that the nets' mixtures put outside the frame at the states of fresh samples of the prior
(:mod:`gns_pyro.models.frame`): the data never leave the page, so nothing else teaches the nets
what to do where their own samples wander. ``init_weights`` starts from trained weights; the
shipped prior is a maximum-likelihood run fine-tuned that way (see the README).

Example (shell)::

    gns-pyro train --out runs/type_prior --epochs 60          # then --resume after a kill
"""

from gns_pyro.train.augment import augment
from gns_pyro.train.loop import (
    FRAME_CHECK_SAMPLES,
    FramePenalizedLoss,
    TrainState,
    batches,
    empty_guide,
    evaluate_nll,
    load_training_data,
    make_optimizer,
    measure_frame_penalty,
    run_epochs,
    start_or_resume,
    train_epoch,
    training_loss,
    type_model,
)
from gns_pyro.train.record import install_weights, train_type_prior, training_record
from gns_pyro.train.settings import (
    MIN_STROKE_LENGTH,
    SETTINGS_BEFORE_THEY_EXISTED,
    TrainSettings,
    check_resumable,
    checkpoint_settings,
    load_initial_weights,
    new_parts,
)

__all__ = [
    "FRAME_CHECK_SAMPLES",
    "MIN_STROKE_LENGTH",
    "SETTINGS_BEFORE_THEY_EXISTED",
    "FramePenalizedLoss",
    "TrainSettings",
    "TrainState",
    "augment",
    "batches",
    "check_resumable",
    "checkpoint_settings",
    "empty_guide",
    "evaluate_nll",
    "install_weights",
    "load_initial_weights",
    "load_training_data",
    "make_optimizer",
    "measure_frame_penalty",
    "new_parts",
    "run_epochs",
    "start_or_resume",
    "train_epoch",
    "train_type_prior",
    "training_loss",
    "training_record",
    "type_model",
]
