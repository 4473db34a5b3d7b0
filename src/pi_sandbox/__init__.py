"""pi-sandbox: run third-party pi extensions with no ambient authority."""

__version__ = "0.1.0"
