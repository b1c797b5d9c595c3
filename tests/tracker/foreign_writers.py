"""Points the real MLflow and Optuna at a Stride store, as a user of either
would, and prints as JSON what each said (the error, or null).

    foreign_writers.py STORE readonly   # through SQLite's read-only URI (docs/STORE.md)
    foreign_writers.py STORE ordinary   # through the plain URI: they create their tables
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")

import mlflow  # noqa: E402
import optuna  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)


def attempt(action):
    try:
        action()
        return None
    except Exception as error:  # what the tool raises is the point, whatever its type
        return f"{type(error).__name__}: {error}"[:300]


def main():
    store, mode = sys.argv[1], sys.argv[2]
    url = f"sqlite:///file:{store}?mode=ro&uri=true" if mode == "readonly" else f"sqlite:///{store}"

    def with_mlflow():
        mlflow.set_tracking_uri(url)
        mlflow.search_experiments()

    def with_optuna():
        study = optuna.create_study(storage=url)
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)

    json.dump({"mlflow": attempt(with_mlflow), "optuna": attempt(with_optuna)}, sys.stdout)


main()
