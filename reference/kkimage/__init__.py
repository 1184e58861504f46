"""kkimage: KubeKey's `image` module (pull, push, copy), reference implementation."""

__version__ = "0.1.0"
