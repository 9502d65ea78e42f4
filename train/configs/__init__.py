"""Config files for ``python -m train --config train/configs/<name>.py``."""
