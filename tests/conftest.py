"""Suite-wide setup: eight fake CPU devices (for the pmap / NamedSharding tests), and one JAX
persistent compilation cache for the suite's processes.

``XLA_FLAGS`` is read when the first JAX backend starts, so it must be set before
any test module touches a device; pytest imports this file before collecting the
test modules.

The compilation cache (``.pytest_cache/jax-compilation-cache``, every entry kept) is shared by the
test workers and by the command-line runs they start (they inherit the environment): the suite
builds the same small U-Nets and steps many times, and XLA:CPU compiles eagerly run initializers
one by one (about 10 s per model on 2 busy cores, under 1 s from the cache). It changes no result:
JAX keys entries by the computation, the compile options and the versions. A caller's own
``JAX_COMPILATION_CACHE_DIR`` wins.
"""

import os

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(_REPO, ".pytest_cache", "jax-compilation-cache")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

_DEVICE_FLAG = "--xla_force_host_platform_device_count=8"
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _DEVICE_FLAG).strip()
