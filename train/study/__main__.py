"""``python -m train.study --config train/configs/study_2d.py --workdir DIR`` (see :mod:`train.study.runner`)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from train.study.runner import run_study


def main(argv: Sequence[str] | None = None) -> None:
    from absl import app, flags, logging
    from ml_collections import config_flags

    flags.DEFINE_string("workdir", None, "Folder for the study's runs.")
    config_flags.DEFINE_config_file("config", None, "train/configs/study_2d.py (or :smoke).", lock_config=True)
    flags.mark_flags_as_required(["config", "workdir"])

    def _main(args):
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        command = "python -m train.study " + " ".join(shlex.quote(a) for a in args[0:1] and sys.argv[1:])
        path = run_study(flags.FLAGS.config, flags.FLAGS.workdir, command=command)
        print(f"report: {path}")

    app.run(_main, argv=argv)


if __name__ == "__main__":
    main()
