"""Suite-wide setup: eight fake CPU devices (for the pmap / NamedSharding tests).

``XLA_FLAGS`` is read when the first JAX backend starts, so it must be set before
any test module touches a device; pytest imports this file before collecting the
test modules.
"""

import os

_DEVICE_FLAG = "--xla_force_host_platform_device_count=8"
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _DEVICE_FLAG).strip()
