"""gemini-gateway: one self-hosted endpoint in front of a pool of Google Gemini access."""

__version__ = "0.1.0"
__all__ = ["__version__"]
