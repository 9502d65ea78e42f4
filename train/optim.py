"""Optimizers and learning-rate schedules from a config section (optax)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optax

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("constant", "cosine", "poly")


def make_schedule(name: str, learning_rate: float, num_steps: int, *, warmup_steps: int = 0,
                  poly_exponent: float = 0.9) -> optax.Schedule:
    """``constant``, ``cosine`` (to 0) or ``poly`` (nnU-Net's ``PolyLRScheduler``,
    ``lr·(1 − t/T)^0.9``), each after an optional linear warm-up of ``warmup_steps``."""
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


def make_optimizer(optim: Mapping[str, Any], num_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax optimizer of ``optim`` (a config section) and its schedule.

    Keys: ``name`` (``adamw`` or ``sgd``: nnU-Net's SGD, Nesterov momentum 0.99),
    ``learning_rate``, ``schedule``, ``warmup_steps``, ``weight_decay``, ``momentum``,
    ``grad_clip_norm`` (nnU-Net clips at 12; 0 disables).
    """
    name = optim.get("name", "adamw")
    if name not in OPTIMIZERS:
        raise ValueError(f"optim.name must be one of {OPTIMIZERS}, got {name!r}")
    lr = float(optim.get("learning_rate", 1e-3))
    if not lr > 0:
        raise ValueError(f"optim.learning_rate must be positive, got {lr}")
    schedule = make_schedule(optim.get("schedule", "cosine"), lr, num_steps,
                             warmup_steps=int(optim.get("warmup_steps", 0)))
    wd = float(optim.get("weight_decay", 0.0))
    if name == "adamw":
        core = optax.adamw(schedule, weight_decay=wd)
    else:
        core = optax.chain(optax.add_decayed_weights(wd) if wd else optax.identity(),
                           optax.sgd(schedule, momentum=float(optim.get("momentum", 0.99)), nesterov=True))
    clip = float(optim.get("grad_clip_norm", 12.0))
    tx = optax.chain(optax.clip_by_global_norm(clip), core) if clip > 0 else core
    return tx, schedule
