from django.conf import settings
from django.http import HttpRequest


def release(request: HttpRequest) -> dict[str, str]:
    return {"release": settings.NOTES_RELEASE}
