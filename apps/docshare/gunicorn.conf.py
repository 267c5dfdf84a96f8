"""Picked up automatically by gunicorn started in this folder (the image's WORKDIR /app).

Command-line options still win; see ``docshare/gunicorn_conf.py``.
"""

from docshare.gunicorn_conf import *  # noqa: F403
