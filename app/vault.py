"""Secret references: a configuration string `vault:PATH` is replaced by the secret at PATH.

Two backends: a directory with one file per secret (`<dir>/ai/openrouter_key`), the default;
and HashiCorp Vault's KV v2 engine over HTTP when `[vault] addr` is set, where
`vault:ai/openrouter_key` reads field `openrouter_key` of secret `ai` under `mount`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx

PREFIX = "vault:"


class VaultError(Exception):
    """A reference that cannot be resolved; the message never contains a secret."""


@dataclass(frozen=True)
class Vault:
    dir: Path
    addr: str | None = None
    token: str | None = None
    mount: str = "secret"
    timeout: float = 5.0

    def resolve(self, reference: str) -> str:
        path = reference.removeprefix(PREFIX).strip()
        parts = PurePosixPath(path).parts
        if not parts or any(p in ("..", "/") for p in parts):
            raise VaultError(f"invalid secret path {path!r}")
        return self._from_http(parts) if self.addr else self._from_dir(path)

    def _from_dir(self, path: str) -> str:
        file = self.dir / path
        try:
            return file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise VaultError(f"no secret at {file} ({exc.strerror})") from None

    def _from_http(self, parts: tuple[str, ...]) -> str:
        if len(parts) < 2:
            raise VaultError("a Vault reference is SECRET/FIELD, e.g. vault:ai/openrouter_key")
        secret, field = "/".join(parts[:-1]), parts[-1]
        url = f"{str(self.addr).rstrip('/')}/v1/{self.mount}/data/{secret}"
        try:
            response = httpx.get(
                url, headers={"X-Vault-Token": self.token or ""}, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise VaultError(f"Vault at {self.addr} unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise VaultError(f"Vault answered {response.status_code} for secret {secret!r}")
        try:
            value = response.json()["data"]["data"][field]
        except (ValueError, KeyError, TypeError):
            raise VaultError(f"Vault secret {secret!r} has no field {field!r}") from None
        if not isinstance(value, str):
            raise VaultError(f"Vault secret {secret!r} field {field!r} is not a string")
        return value
