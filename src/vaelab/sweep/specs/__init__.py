"""Shipped sweep specs: YAML files inside the package, found by name from any folder (`vaelab sweep NAME`).

A spec is `NAME.yaml` in this folder; its first comment line is its description (`vaelab sweep --list`).
"""

from vaelab.packaged import PackagedYaml

SPECS = PackagedYaml(__name__, "sweep spec", "vaelab sweep --list")
names, path, describe, resolve = SPECS.names, SPECS.path, SPECS.describe, SPECS.resolve
