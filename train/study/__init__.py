"""The domain-generalization study: methods x seeds, an L x k sweep, diagnostics and a report."""

from train.study.runner import run_config, run_one, run_study

__all__ = ["run_config", "run_one", "run_study"]
