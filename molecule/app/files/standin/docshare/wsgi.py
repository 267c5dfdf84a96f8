"""Stand-in WSGI app: health endpoints and build info."""
import os

from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health():
    return {"status": "ok", "checks": {}}


@app.get("/health/live")
def live():
    return {"status": "ok"}


@app.get("/metrics")
def metrics():
    release = os.environ.get("DOCSHARE_RELEASE_ID", "")
    return f'docshare_build_info{{release="{release}"}} 1\n', 200, {"Content-Type": "text/plain"}
