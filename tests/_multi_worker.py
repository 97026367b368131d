"""One worker of the two-process MultiWorkerMirroredStrategy test (run by test_train.py, not by pytest).

argv: worker index, port0, port1, output dir. Trains one epoch on synthetic data and saves model.keras.
"""

import json
import os
import sys

index, port0, port1, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"127.0.0.1:{port0}", f"127.0.0.1:{port1}"]},
    "task": {"type": "worker", "index": index},
})
sys.path.insert(0, os.path.dirname(__file__))

from pathlib import Path  # noqa: E402

from helpers import tiny_config  # noqa: E402

from vaelab.train import fit  # noqa: E402

cfg = tiny_config(Path(out), train={"epochs": 1, "distribute": "multi_worker", "run_name": f"worker{index}"})
result = fit(cfg)
print("REPLICAS", json.loads((result.run_dir / "env.json").read_text())["replicas"])
