from vaelab.registry import Registry

STRATEGIES = Registry("KL strategy")
