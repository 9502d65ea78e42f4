"""Train state, the pure train step, and the evaluation forward pass.

The model is an ``nnx.Module`` split once into a static ``graphdef`` and a pytree of
parameters; the step rebuilds it with ``nnx.merge`` inside ``jit``, differentiates the
parameters only, and applies optax updates (the functional NNX style; the U-Net has no
mutable non-parameter state, since it uses instance or group normalization).

Keys (:mod:`train.rng`): the step's key is ``fold_in(base_key, step)``; the random convolutions
and the intensity augmentations each take their own stream of it, and a per-sample draw is keyed
by the sample's index in the data stream (``batch["index"]``), never by its position in the
batch or on a device. A run is reproducible, a resumed run draws exactly what an uninterrupted
one would, and every data-parallel layout draws the same. Random convolutions run on device
inside the step, under ``stop_gradient``; evaluation and inference never call them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax import lax

from train.augment import BatchAugment, intensity_batch
from train.losses import CONSISTENCY_LOSSES, dice_ce_loss
from train.rng import Stream

Batch = dict[str, jax.Array]


@flax.struct.dataclass
class TrainState:
    """``step`` int32 scalar, ``params`` (the model's ``nnx.Param`` state), ``opt_state``."""

    step: jax.Array
    params: Any
    opt_state: Any


def create_train_state(model: nnx.Module, tx: optax.GradientTransformation) -> tuple[nnx.GraphDef, TrainState]:
    """Splits ``model`` into its graph definition and a :class:`TrainState` at step 0."""
    graphdef, params = nnx.split(model, nnx.Param)
    return graphdef, TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def consistency_fn(name: str) -> Callable[[jax.Array], jax.Array]:
    """The consistency loss ``name`` of :data:`train.losses.CONSISTENCY_LOSSES` (logits of the copies
    ``(copies, N, *spatial, K)`` -> a scalar)."""
    if name not in CONSISTENCY_LOSSES:
        raise ValueError(f"loss.consistency must be one of {sorted(CONSISTENCY_LOSSES)}, got {name!r}")
    return CONSISTENCY_LOSSES[name]


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, *,
                    augment: BatchAugment | None = None, intensity: bool = False, dice_weight: float = 1.0,
                    ce_weight: float = 1.0, consistency: str | None = None, consistency_weight: float = 0.0,
                    num_copies: int = 1, axis_name: str | None = None) -> Callable[..., tuple[TrainState, Batch]]:
    """Builds ``train_step(state, batch, base_key) -> (state, metrics)`` (not yet jitted).

    Args:
        graphdef: from :func:`create_train_state`.
        tx: the optax optimizer.
        augment: random convolutions applied to ``batch["image"]`` (masked by
            ``batch["mask"]``), or None for no augmentation.
        intensity: apply nnU-Net's default intensity augmentations
            (:func:`train.augment.nnunet_intensity`) per sample before the random convolutions.
        dice_weight, ce_weight: weights of the soft Dice and cross-entropy terms.
        consistency: a name of :data:`train.losses.CONSISTENCY_LOSSES`, applied to the outputs of
            ``num_copies`` independently augmented copies (RandConv / GIN-IPA training);
            needs ``augment`` and ``num_copies >= 2``.
        consistency_weight: λ of the consistency term.
        axis_name: set when the step runs per device under ``pmap``: gradients and metrics are
            averaged over ``axis_name``.

    ``batch``: ``image`` ``(B, *spatial, C)`` float32, ``label`` ``(B, *spatial)`` int32,
    ``mask`` ``(B, *spatial)`` bool, ``index`` ``(B,)`` int32, each sample's index in the data
    stream (its per-sample augmentation key; :class:`train.parallel.Runner` and the loaders add
    it). Without ``index`` a single-device step takes the positions ``0..B-1``; under ``pmap``
    ``index`` is required. Metrics: loss, ce, dice, grad_norm (and consistency).
    """
    if num_copies < 1:
        raise ValueError(f"num_copies must be >= 1, got {num_copies}")
    use_consistency = consistency is not None and consistency_weight > 0
    if use_consistency and (augment is None or num_copies < 2):
        raise ValueError("a consistency loss needs random convolutions and num_copies >= 2")
    consistency_loss = consistency_fn(consistency) if use_consistency else None

    def train_step(state: TrainState, batch: Batch, base_key: jax.Array) -> tuple[TrainState, Batch]:
        key = jax.random.fold_in(base_key, state.step)
        images, labels, masks = batch["image"], batch["label"], batch.get("mask")
        index = batch.get("index")
        if index is None:
            if axis_name is not None:
                raise ValueError("batch['index'] (each sample's index in the data stream) is required under pmap")
            index = jnp.arange(images.shape[0], dtype=jnp.int32)
        if intensity:
            images = intensity_batch(jax.random.fold_in(key, Stream.INTENSITY), images, masks, index)
        if augment is not None:
            rc_key = jax.random.fold_in(key, Stream.AUGMENT)
            copies = [augment(jax.random.fold_in(rc_key, c), images, masks, index) for c in range(num_copies)]
        else:
            copies = [images]
        inputs = jnp.concatenate(copies, axis=0)
        n = images.shape[0]

        def loss_fn(params):
            model = nnx.merge(graphdef, params)
            logits = model(inputs)
            sup, parts = dice_ce_loss(logits, jnp.tile(labels, (len(copies),) + (1,) * (labels.ndim - 1)),
                                      dice_weight=dice_weight, ce_weight=ce_weight)
            loss = sup
            if consistency_loss is not None:
                per_copy = logits.reshape((len(copies), n) + logits.shape[1:])
                cons = jnp.mean(consistency_loss(per_copy))
                parts["consistency"] = cons
                loss = loss + consistency_weight * cons
            return loss, parts

        (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        if axis_name is not None:
            grads = lax.pmean(grads, axis_name)
            loss, parts = lax.pmean((loss, parts), axis_name)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads), **parts}
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

    return train_step


def make_predict_fn(graphdef: nnx.GraphDef) -> Callable[[Any, jax.Array], jax.Array]:
    """``predict(params, images (B, *spatial, C)) -> logits (B, *spatial, K)`` (no augmentation)."""

    def predict(params: Any, images: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, params)(images)

    return predict
