"""Command line: ``python -m train --config train/configs/<name>.py --workdir DIR [--resume]``.

Config files are Python (the file is imported and its ``get_config()`` called: it runs as code).
Config values can be overridden with ``--config.<key>=<value>`` (ml_collections), e.g.
``--config.num_steps=100 --config.randconv.preset=nnunet_rc``. The logic lives in
:mod:`train.runs` so notebooks can call :func:`train.runs.train_and_evaluate` directly.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Folder for checkpoints, metrics, figures and summary.json.")
flags.DEFINE_bool("resume", False, "Continue the run in --workdir from its latest checkpoint.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
config_flags.DEFINE_config_file(
    "config", None, "A config file, e.g. train/configs/quickstart.py. Config files are Python: the file is imported "
    "and its get_config() called, so it runs as code (use files you trust).", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS["verbosity"].present:  # orbax logs every save at INFO; --verbosity=0 brings it back
        logging.set_verbosity(logging.WARNING)
    import jax

    from train.checkpoint import UnrestorableCheckpointError
    from train.lock import WorkdirLockedError
    from train.loop import NonFiniteLossError
    from train.runs import train_and_evaluate

    logging.info("JAX %s; process %d of %d; devices: %s", jax.__version__, jax.process_index(),
                 jax.process_count(), jax.devices())
    try:
        train_and_evaluate(FLAGS.config, FLAGS.workdir, resume=FLAGS.resume, progress=FLAGS.progress)
    except (FileExistsError, FileNotFoundError, NonFiniteLossError, UnrestorableCheckpointError, ValueError,
            WorkdirLockedError) as err:
        sys.exit(f"error: {err}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
