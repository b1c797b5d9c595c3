"""Reads an MLflow export back with the real mlflow package and prints what it
sees as JSON: experiments and, per run, its status, params, tags and metric
histories. The tests compare that with the store it was exported from.

    read_mlflow.py TRACKING_URI
"""
import json
import math
import os
import sys
import warnings

warnings.simplefilter("ignore")
# Recent MLflow keeps the file store readable behind this switch (docs/EXPORT.md).
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def number(value):
    return None if math.isnan(value) else value


def main():
    mlflow.set_tracking_uri(sys.argv[1])
    client = MlflowClient()
    experiments = {e.experiment_id: e.name for e in mlflow.search_experiments()}
    # mlflow.search_runs() as a user calls it: a pandas frame with one column per param and metric.
    frame = mlflow.search_runs(search_all_experiments=True)
    runs = []
    for run_id in frame["run_id"]:
        run = client.get_run(run_id)
        metrics = {}
        for key in run.data.metrics:
            history = client.get_metric_history(run_id, key)
            metrics[key] = [[m.step, number(m.value)] for m in sorted(history, key=lambda m: m.step)]
        runs.append({
            "experiment": experiments[run.info.experiment_id],
            "name": run.info.run_name,
            "status": run.info.status,
            "start_time": run.info.start_time,
            "end_time": run.info.end_time,
            "params": dict(run.data.params),
            "tags": {k: v for k, v in run.data.tags.items()},
            "metrics": metrics,
            "artifacts": sorted(a.path for a in client.list_artifacts(run_id)),
            "frame_columns": sorted(c for c in frame.columns if c.startswith(("params.", "metrics."))),
        })
    json.dump({"experiments": sorted(experiments.values()), "runs": runs}, sys.stdout)


main()
