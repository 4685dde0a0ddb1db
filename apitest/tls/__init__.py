"""The TLS lab: a local development CA, broken-certificate listeners, mutual TLS (docs/tls.md).

- :mod:`apitest.tls.ca`: keys and certificates, made with ``cryptography`` (no ``openssl`` shell-outs).
- :mod:`apitest.tls.material`: the files of a CA directory (``apitest tls init``) and each lab listener's.
- :mod:`apitest.tls.errors`: the lab listeners and the exact error each produces in curl, OpenSSL and Python.
- :mod:`apitest.tls.listeners`: the TLS accept loop (plain-HTTP detection, client certificates into the scope).
- :mod:`apitest.tls.peer`: the client certificate as the app sees it (``/v1/whoami``, the audit row).
"""

CLIENT_CERT_KEY = "client_certificate"  # request-state key of the client certificate's facts (apitest.tls.peer)
