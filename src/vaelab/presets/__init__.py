"""Shipped configuration presets: YAML files inside the package, found by name from any folder.

A preset is `NAME.yaml` in this folder (or a sub-folder: `experiments/mnist_z2_vae`). Its first comment
line is its one-line description (`vaelab config list`).

    >>> resolve("mnist_vae")          # -> path of the packaged mnist_vae.yaml
    >>> load_config("mnist_vae")      # vaelab.config accepts a preset name wherever it takes a file
"""

from vaelab.packaged import PackagedYaml

PRESETS = PackagedYaml(__name__, "config", "vaelab config list")
names, path, describe, resolve = PRESETS.names, PRESETS.path, PRESETS.describe, PRESETS.resolve
