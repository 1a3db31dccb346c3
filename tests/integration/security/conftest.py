"""Fixtures for the security tests live in security_env.py (test modules import its helpers)."""

from security_env import certs, secure_broker, secure_topic

__all__ = ["certs", "secure_broker", "secure_topic"]
