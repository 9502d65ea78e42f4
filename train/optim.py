"""Optimizers and learning-rate schedules from a config section (optax)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optax

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("constant", "cosine", "poly")


def make_schedule(name: str, learning_rate: float, num_steps: int, *, warmup_steps: int,
                  poly_exponent: float) -> optax.Schedule:
    """``constant``, ``cosine`` (to 0) or ``poly`` (nnU-Net's ``PolyLRScheduler``,
    ``lr·(1 − t/T)^poly_exponent``), each after a linear warm-up of ``warmup_steps`` (0: none).

    No defaults here: they are the config's (``train/configs/default.py``, ``optim.*``).
    """
    if name not in SCHEDULES:
        raise ValueError(f"optim.schedule must be one of {SCHEDULES}, got {name!r}")
    if num_steps < 1 or warmup_steps < 0 or warmup_steps >= num_steps and warmup_steps > 0:
        raise ValueError(f"need num_steps >= 1 and 0 <= warmup_steps < num_steps, got {num_steps}, {warmup_steps}")
    decay_steps = num_steps - warmup_steps
    if name == "constant":
        main = optax.constant_schedule(learning_rate)
    elif name == "cosine":
        main = optax.cosine_decay_schedule(learning_rate, decay_steps)
    else:
        main = optax.polynomial_schedule(learning_rate, 0.0, poly_exponent, decay_steps)
    if warmup_steps == 0:
        return main
    warmup = optax.linear_schedule(0.0, learning_rate, warmup_steps)
    return optax.join_schedules([warmup, main], [warmup_steps])


_KEYS = ("name", "learning_rate", "schedule", "warmup_steps", "weight_decay", "momentum", "poly_exponent",
         "grad_clip_norm")


def make_optimizer(optim: Mapping[str, Any], num_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax optimizer of ``optim`` (the config's ``optim`` section) and its schedule.

    Every key is required (no defaults here; they are the config's, ``train/configs/default.py``):
    ``name`` (``adamw``, or ``sgd``: nnU-Net's SGD with Nesterov momentum ``momentum``),
    ``learning_rate``, ``schedule``, ``warmup_steps``, ``poly_exponent`` (for ``poly``),
    ``weight_decay``, ``momentum`` (for ``sgd``), ``grad_clip_norm`` (global-norm clipping; None:
    no clipping).
    """
    try:
        o = {k: optim[k] for k in _KEYS}
    except (KeyError, AttributeError) as err:
        missing = [k for k in _KEYS if k not in optim]
        raise ValueError(f"optim section lacks {missing}: every key of train/configs/default.py's optim is "
                         f"required") from err
    if o["name"] not in OPTIMIZERS:
        raise ValueError(f"optim.name must be one of {OPTIMIZERS}, got {o['name']!r}")
    lr = float(o["learning_rate"])
    if not lr > 0:
        raise ValueError(f"optim.learning_rate must be positive, got {lr}")
    schedule = make_schedule(o["schedule"], lr, num_steps, warmup_steps=int(o["warmup_steps"]),
                             poly_exponent=float(o["poly_exponent"]))
    wd = float(o["weight_decay"])
    if o["name"] == "adamw":
        core = optax.adamw(schedule, weight_decay=wd)
    else:
        core = optax.chain(optax.add_decayed_weights(wd) if wd else optax.identity(),
                           optax.sgd(schedule, momentum=float(o["momentum"]), nesterov=True))
    clip = o["grad_clip_norm"]
    if clip is None:
        return core, schedule
    if not float(clip) > 0:
        raise ValueError(f"optim.grad_clip_norm must be positive or None (no clipping), got {clip}")
    return optax.chain(optax.clip_by_global_norm(float(clip)), core), schedule
