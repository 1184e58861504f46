"""The conformance suite for KubeKey's image module: `pytest --pyargs conformance`.

It runs an implementation (the reference `kkimage run` by default) as a command against
throwaway registries and judges it by what ends up in stores and registries, case by case,
each case citing the docs/spec.md requirement it checks.
"""

__version__ = "0.1.0"
