"""docshare: the bundle's reference application (Flask + gunicorn + RQ)."""

__version__ = "1.0.0"
