"""An nginx `server` block that puts conditional access in front of an application.

Every request first goes to openmtd's forward-auth endpoint (`auth_request`); 2xx lets it
through to the application with the device's id, threat level and health state as headers,
401/403 stop it with openmtd's reason. Devices identify with their access token
(X-OpenMTD-Device-Token header or cookie) or, on a TLS listener, with the client certificate
openmtd issued them, which nginx verifies against openmtd's access CA and forwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CHECK_PATH = "/api/access/v1/check"


@dataclass(frozen=True, slots=True)
class NginxSite:
    listen: str  # "127.0.0.1:8080" or "443"
    openmtd_url: str  # where nginx reaches openmtd, e.g. http://127.0.0.1:8443
    upstream_url: str  # the protected application, e.g. http://127.0.0.1:9000
    server_name: str = "_"
    tls_certificate: Path | None = None  # this site's certificate and key (enables TLS)
    tls_key: Path | None = None
    access_ca: Path | None = None  # openmtd's access CA (/api/access/v1/ca.pem): client certs


def _check(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an http(s) URL, not {url!r}")
    if any(c in url for c in ";{}\n\r\"' "):
        raise ValueError(f"{what} contains characters nginx would misread: {url!r}")
    return url.rstrip("/")


def render_server(site: NginxSite) -> str:
    """The `server { ... }` block (goes into nginx's `http` context)."""
    openmtd = _check(site.openmtd_url, "the openmtd URL")
    upstream = _check(site.upstream_url, "the upstream URL")
    tls = site.tls_certificate is not None and site.tls_key is not None
    lines = [
        "server {",
        f"    listen {site.listen}{' ssl' if tls else ''};",
        f"    server_name {site.server_name};",
    ]
    if tls:
        lines += [
            f"    ssl_certificate {site.tls_certificate};",
            f"    ssl_certificate_key {site.tls_key};",
        ]
        if site.access_ca is not None:
            lines += [
                f"    ssl_client_certificate {site.access_ca};",
                "    ssl_verify_client optional;  # devices without a certificate may use a token",
            ]
    lines += [
        "",
        "    location = /_openmtd_access {",
        "        internal;",
        f"        proxy_pass {openmtd}{CHECK_PATH};",
        "        proxy_pass_request_body off;",
        "        proxy_http_version 1.1;  # with an upstream block's keepalive: no new connection",
        '        proxy_set_header Connection "";',
        '        proxy_set_header Content-Length "";',
        "        proxy_set_header X-Original-URI $request_uri;",
        "        proxy_set_header X-Original-Method $request_method;",
    ]
    if tls and site.access_ca is not None:
        lines.append("        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;")
    else:
        # Nobody may smuggle a certificate header in through a listener that verifies none.
        lines.append('        proxy_set_header X-SSL-Client-Cert "";')
    lines += [
        "    }",
        "",
        "    location / {",
        "        auth_request /_openmtd_access;",
        "        auth_request_set $openmtd_device $upstream_http_x_openmtd_device_id;",
        "        auth_request_set $openmtd_risk $upstream_http_x_openmtd_risk_level;",
        "        auth_request_set $openmtd_health $upstream_http_x_openmtd_health_state;",
        "        auth_request_set $openmtd_reason $upstream_http_x_openmtd_reason;",
        "        add_header X-OpenMTD-Reason $openmtd_reason always;",
        "        proxy_set_header X-OpenMTD-Device-Id $openmtd_device;",
        "        proxy_set_header X-OpenMTD-Risk-Level $openmtd_risk;",
        "        proxy_set_header X-OpenMTD-Health-State $openmtd_health;",
        '        proxy_set_header X-OpenMTD-Device-Token "";  # the app never sees the token',
        f"        proxy_pass {upstream};",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"
