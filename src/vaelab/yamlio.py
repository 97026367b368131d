"""The one YAML reader of vaelab (configs, `--set` values, sweep specs): YAML 1.2 numbers.

PyYAML implements YAML 1.1, which reads `1e-4` (no dot, no exponent sign) as the string "1e-4". Here a
number is a number as in YAML 1.2 and JSON: `1e-4`, `1E-4`, `-1e-3`, `.5`, `5.`, `1e4` are floats
(`5` stays an int). Everything else is `yaml.safe_load`'s.

    >>> load("learning_rate: 1e-4")
    {'learning_rate': 0.0001}
"""

from __future__ import annotations

import re
from typing import Any

import yaml

FLOAT_TAG = "tag:yaml.org,2002:float"
FLOAT = re.compile(r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
                     |[-+]?\.(?:inf|Inf|INF)
                     |\.(?:nan|NaN|NAN))$""", re.X)


class Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 float resolver in place of YAML 1.1's (ints are still tried first)."""


class Dumper(yaml.SafeDumper):
    """SafeDumper that quotes the strings `Loader` would read as numbers (a run_name "1e5" stays text)."""


for _cls in (Loader, Dumper):
    _cls.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != FLOAT_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _cls.add_implicit_resolver(FLOAT_TAG, FLOAT, list("-+0123456789."))


def dump(data: Any) -> str:
    """`yaml.safe_dump(data, sort_keys=False)` whose output `load` reads back as it was."""
    return yaml.dump(data, Dumper=Dumper, sort_keys=False)


def load(text: str) -> Any:
    """`yaml.safe_load(text)` with YAML 1.2 numbers (raises yaml.YAMLError like it)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506  (a SafeLoader subclass)
