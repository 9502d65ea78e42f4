"""randconv_jax: random convolutions for domain generalization, as pure JAX functions.

Every random augmentation takes a PRNG key first and one unbatched channels-last
image ``(H, W, C)`` or ``(D, H, W, C)`` second; hyper-parameters are
keyword-only. Sampling and applying are separate public functions, so what was
drawn can be inspected or checked. Batch with ``jax.vmap`` (per-sample draws:
``jax.vmap(aug)(jax.random.split(key, n), x)``; one draw per batch:
``jax.vmap(aug, in_axes=(None, 0))(key, x)``) or with :func:`batched`.
Outputs are not clipped unless a normalization mode says so; the output dtype is
the input's.
"""

from randconv_jax import losses, presets
from randconv_jax._compose import (
    BATCH_MODES,
    MixParams,
    ProbabilityParams,
    batched,
    chain,
    mix_with_input,
    with_probability,
)
from randconv_jax._conv import convolve
from randconv_jax._deformable import deform_conv
from randconv_jax._gin import (
    GinIpaParams,
    GINParams,
    apply_gin,
    apply_gin_ipa,
    gin,
    gin_ipa,
    gin_ipa_views,
    sample_gin,
    sample_gin_ipa,
    sample_ipa_mask,
)
from randconv_jax._kernels import ConvStack, sample_conv_stack
from randconv_jax._normalize import MODES as NORMALIZE_MODES
from randconv_jax._normalize import normalize_output
from randconv_jax._pro_randconv import (
    ProRandConvParams,
    apply_pro_randconv,
    pro_randconv,
    pro_randconv_offsets,
    sample_pro_randconv,
)
from randconv_jax._random_conv import (
    RandomConvParams,
    apply_random_conv,
    make_random_conv,
    random_conv,
    sample_random_conv,
)
from randconv_jax._typing import Augmentation, PRNGKey
from randconv_jax._version import __version__ as __version__

__all__ = (
    "Augmentation",
    "BATCH_MODES",
    "ConvStack",
    "GINParams",
    "GinIpaParams",
    "MixParams",
    "NORMALIZE_MODES",
    "PRNGKey",
    "ProRandConvParams",
    "ProbabilityParams",
    "RandomConvParams",
    "apply_gin",
    "apply_gin_ipa",
    "apply_pro_randconv",
    "apply_random_conv",
    "batched",
    "chain",
    "convolve",
    "deform_conv",
    "gin",
    "gin_ipa",
    "gin_ipa_views",
    "losses",
    "make_random_conv",
    "mix_with_input",
    "normalize_output",
    "presets",
    "pro_randconv",
    "pro_randconv_offsets",
    "random_conv",
    "sample_conv_stack",
    "sample_gin",
    "sample_gin_ipa",
    "sample_ipa_mask",
    "sample_pro_randconv",
    "sample_random_conv",
    "with_probability",
)
