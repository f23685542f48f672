"""Encryption of stored credentials (provider API keys, webhook secrets).

A Fernet key is derived from ``BATCHHOOK_SECRET_KEY``; losing that key makes the stored
credentials unreadable, changing it requires re-creating connections and endpoints.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from worker.errors import ConfigError


class Vault:
    def __init__(self, secret_key: str | None) -> None:
        self._fernet: Fernet | None = None
        if secret_key:
            digest = hashlib.sha256(f"batchhook-vault\x00{secret_key}".encode()).digest()
            self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    @property
    def fernet(self) -> Fernet:
        if self._fernet is None:
            raise ConfigError("BATCHHOOK_SECRET_KEY is required outside dev mode")
        return self._fernet

    def seal(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ConfigError(
                "stored credentials cannot be decrypted: BATCHHOOK_SECRET_KEY changed?"
            ) from exc
