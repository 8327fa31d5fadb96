"""Alert export formats, pure: the alert event exported, CEF, RFC 5424 syslog framing, OCSF
Detection Finding, the webhook body and its HMAC-SHA256 signature, and retry backoff.

No I/O here: the server's delivery worker (server/export/delivery.py) sends what these build.
"""
