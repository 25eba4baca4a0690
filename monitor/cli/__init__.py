"""Command-line interface; see ``monitor.cli.main``."""
