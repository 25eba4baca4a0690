"""Prometheus metrics: custom collectors that read the runtime's state at scrape time.

``build_registry(runtime)`` gives the registry the HTTP server serves at
``/metrics``; ``render`` encodes it for the scraper's Accept header.
"""

from .registry import build_registry, render

__all__ = ["build_registry", "render"]
