"""What a run reports: lesion metrics, summaries and tables, metric writers, figures."""
