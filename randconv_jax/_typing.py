"""Shared type aliases and the :class:`Augmentation` pair of pure functions."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
from jax.typing import ArrayLike

PRNGKey = jax.Array
"""A JAX PRNG key: typed (``jax.random.key``) or legacy uint32 (``jax.random.PRNGKey``)."""

Params = Any
"""A pytree of sampled random parameters (kernels, coins, mixing weights, ...)."""


class SampleFn(Protocol):
    def __call__(self, key: PRNGKey, image: ArrayLike, /) -> Params: ...


class ApplyFn(Protocol):
    def __call__(self, image: ArrayLike, params: Params, /, *, mask: ArrayLike | None = None) -> jax.Array: ...


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """A random augmentation as two pure functions, in the manner of optax.

    ``sample(key, image) -> params`` draws every random quantity (it reads only
    the image's shape and dtype); ``apply(image, params, *, mask=None)`` is
    deterministic. Calling the augmentation does both::

        out = aug(key, image, mask=mask)   # == aug.apply(image, aug.sample(key, image), mask=mask)

    It is an ordinary callable: ``jax.jit(aug)`` and ``jax.vmap(aug)`` work.
    ``image`` is one unbatched channels-last float image ``(H, W, C)`` or
    ``(D, H, W, C)``, unless the augmentation came from :func:`batched`, which
    takes ``(N, *spatial, C)``; the output has the image's shape and dtype.

    Source: the project's own interface, after optax's ``GradientTransformation``
    (``init``/``update`` pairs of pure functions).
    """

    sample: SampleFn
    apply: ApplyFn

    def __call__(self, key: PRNGKey, image: ArrayLike, *, mask: ArrayLike | None = None) -> jax.Array:
        return self.apply(image, self.sample(key, image), mask=mask)
