"""Reads a TensorBoard export back with the real tensorboard package and
prints, as JSON, each run's scalars by tag as [step, value] pairs. Every
record is also read with TensorBoard's own TFRecord reader, which checks both
CRCs of every record (a bad one raises DataLossError here).

    read_tensorboard.py LOGDIR
"""
import glob
import json
import math
import os
import sys
import warnings

warnings.simplefilter("ignore")

from tensorboard.backend.event_processing import plugin_event_multiplexer  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow  # noqa: E402


def records(path):
    reader = pywrap_tensorflow.PyRecordReader_New(path)
    out = []
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return out
        out.append(event_pb2.Event.FromString(reader.record()))


def main():
    logdir = sys.argv[1]
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    runs = {}
    for run in sorted(multiplexer.Runs()):
        accumulator = EventAccumulator(os.path.join(logdir, run))
        accumulator.Reload()
        scalars = {}
        for tag in accumulator.Tags()["scalars"]:
            scalars[tag] = [[s.step, None if math.isnan(s.value) else s.value] for s in accumulator.Scalars(tag)]
        files = glob.glob(os.path.join(logdir, run, "events.out.tfevents.*"))
        events = [e for f in files for e in records(f)]
        runs[run] = {
            "scalars": scalars,
            "files": len(files),
            "file_version": [e.file_version for e in events if e.file_version],
            "records": len(events),
        }
    json.dump({"runs": runs}, sys.stdout)


main()
