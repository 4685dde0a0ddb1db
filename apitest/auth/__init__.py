"""Inbound authentication: identities, the authenticator chain and its middleware."""
