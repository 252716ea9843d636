"""Readiness probes over HTTP(S): the components' own /healthz, /readyz and /health."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path


def https_ok(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def admin_context(pki: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return context


def insecure_context() -> ssl.SSLContext:
    """For the healthz of the scheduler and controller-manager, which serve self-signed certs."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
