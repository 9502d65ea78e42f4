"""Command line: ``python -m train --config train/configs/<name>.py --workdir DIR [--resume]``.

Config files are Python (the file is imported and its ``get_config()`` called: it runs as code).
Config values can be overridden with ``--config.<key>=<value>`` (ml_collections), e.g.
``--config.num_steps=100 --config.randconv.preset=nnunet_rc``. The logic lives in
:mod:`train.runs` so notebooks can call :func:`train.runs.train_and_evaluate` directly.

Several processes (hosts, or one per GPU) train one run together when each is started with
the same command plus where to meet: ``--coordinator_address=HOST:PORT --num_processes=N
--process_id=I`` (or ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``);
in a SLURM or Open MPI job of several tasks this is detected, and ``--distributed=on`` asks JAX
to detect it elsewhere (Cloud TPU, Kubernetes). See :mod:`train.distributed` and docs/scaling.md.
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
flags.DEFINE_enum("distributed", "auto", ["auto", "on", "off"],
                  "auto: join a multi-process JAX runtime when --coordinator_address/--num_processes/--process_id "
                  "(or JAX_COORDINATOR_ADDRESS/JAX_NUM_PROCESSES/JAX_PROCESS_ID) are given or a SLURM/Open MPI job "
                  "of several tasks is detected; on: always (jax.distributed.initialize detects what is missing, "
                  "e.g. on a Cloud TPU pod); off: one process.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0's coordination service (multi-process).")
flags.DEFINE_integer("num_processes", None, "Processes of a multi-process run.", lower_bound=1)
flags.DEFINE_integer("process_id", None, "This process's number in a multi-process run (0 .. num_processes - 1).",
                     lower_bound=0)
flags.DEFINE_integer("heartbeat_timeout", 100, "Seconds without a heartbeat after which a process of a "
                     "multi-process run counts as dead and the others stop (JAX's default).", lower_bound=1)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS["verbosity"].present:  # orbax logs every save at INFO; --verbosity=0 brings it back
        logging.set_verbosity(logging.WARNING)
    import jax

    from train import distributed

    try:  # before anything touches a device
        distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
                               mode=FLAGS.distributed, heartbeat_timeout_s=FLAGS.heartbeat_timeout)
    except ValueError as err:
        sys.exit(f"error: {err}")

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
        sys.exit(f"error: {_prefix()}{err}")
    except jax.errors.JaxRuntimeError as err:
        if jax.process_count() == 1:
            raise
        # a collective with a peer that died, a barrier that timed out: name the process, keep the cause
        sys.exit(f"error: {_prefix()}the run of {jax.process_count()} processes failed (a peer process died or "
                 f"stopped answering?): {' '.join(str(err).split())[:2000]}")


def _prefix() -> str:
    import jax

    return f"process {jax.process_index()}: " if jax.process_count() > 1 else ""


def run():
    app.run(main)


if __name__ == "__main__":
    run()
