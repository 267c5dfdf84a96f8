"""Django settings of notes: everything that varies comes from ``NOTES_*`` (see notes/config.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from notes.config import is_build_command, load

BASE_DIR = Path(__file__).resolve().parent.parent
CONFIG = load(os.environ, build_only=is_build_command(sys.argv))

DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = CONFIG.allowed_hosts
CSRF_TRUSTED_ORIGINS = CONFIG.csrf_trusted_origins
NOTES_RELEASE = CONFIG.release

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "notes.apps.NotesConfig",
]
MIDDLEWARE = [
    "notes.middleware.ResponseHeadersMiddleware",  # outermost: sees every response, errors too
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # the visitor's language (Accept-Language), after the session
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "notes.urls"
WSGI_APPLICATION = "notes.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "notes.context_processors.release",
            ],
        },
    },
]

DATABASES = {"default": CONFIG.database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
# French too: its catalogue (notes/locale/fr/LC_MESSAGES/django.po) is compiled when the image is built
# (app_build_command: python manage.py compilemessages); no .mo file is kept in the source tree.
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]

# Static files: collected with hashed names at image build time; nginx serves them.
STATIC_URL = "/static/"
STATIC_ROOT = CONFIG.static_root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/notes/"
LOGOUT_REDIRECT_URL = "/"

# Own cookie names: the proxy's micro-cache skips requests that carry notes_session.
SESSION_COOKIE_NAME = "notes_session"
CSRF_COOKIE_NAME = "notes_csrftoken"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# Behind nginx terminating TLS; the Host header is nginx's $host, never X-Forwarded-Host.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False
# nginx redirects to HTTPS and sends HSTS; the deploy health probe is plain HTTP on loopback.
SILENCED_SYSTEM_CHECKS = ["security.W004", "security.W008"]

# Celery (read by notes/celery.py under the CELERY_ namespace): Redis is broker and result store.
CELERY_BROKER_URL = CONFIG.redis_url
CELERY_RESULT_BACKEND = CONFIG.redis_url
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True  # tasks are idempotent: a lost worker's task runs again
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A dead Redis must not hold a web request for long (Celery's defaults retry for about 20 s):
# sending a task first subscribes to its result channel, then publishes; both give up within ~1 s.
_SHORT_RETRIES = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": _SHORT_RETRIES}
CELERY_TASK_PUBLISH_RETRY_POLICY = _SHORT_RETRIES

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": CONFIG.log_level},
}
