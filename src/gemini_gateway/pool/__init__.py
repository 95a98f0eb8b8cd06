"""The credential pool: who can serve, who is cooling down, and why."""

from gemini_gateway.pool.classify import Verdict, classify_error, classify_transport
from gemini_gateway.pool.credential import Credential, mask_secret
from gemini_gateway.pool.pool import CredentialPool

__all__ = ["Credential", "CredentialPool", "Verdict", "classify_error", "classify_transport", "mask_secret"]
