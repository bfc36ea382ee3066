"""[auth] settings refuse what would weaken the promises, at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.settings import ConfigError, load_settings
from resolvers.auth.passwords import Passwords


def _load(tmp_path: Path, **auth: Any) -> None:
    config = tmp_path / "Reactor.toml"
    config.write_text("", encoding="utf-8")
    load_settings(config, server={"data_dir": str(tmp_path)}, auth=auth)


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"jwt_secret": "x" * 31}, "auth: jwt_secret must be at least 32 bytes"),
        ({"argon2_memory_kib": 19_456, "argon2_time_cost": 1}, "below OWASP"),
        ({"argon2_memory_kib": 8_192, "argon2_time_cost": 3}, "below OWASP"),
        ({"jwks_url": "https://idp.example/jwks.json"}, "jwks_issuer and jwks_audience"),
        (
            {"jwks_url": "http://idp.example/jwks", "jwks_issuer": "i", "jwks_audience": "a"},
            "must be https",
        ),
        (
            {"jwks_url": "http://127.evil.example/jwks", "jwks_issuer": "i", "jwks_audience": "a"},
            "must be https",
        ),
        (
            {
                "jwks_url": "http://localhost.evil.example/",
                "jwks_issuer": "i",
                "jwks_audience": "a",
            },
            "must be https",
        ),
    ],
)
def test_weak_auth_settings_stop_start_up(
    tmp_path: Path, auth: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, **auth)


def test_owasp_equivalent_argon2_settings_are_accepted(tmp_path: Path) -> None:
    _load(tmp_path, argon2_memory_kib=19_456, argon2_time_cost=2, argon2_parallelism=1)
    _load(tmp_path, argon2_memory_kib=47_104, argon2_time_cost=1, argon2_parallelism=1)


def test_a_missing_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    config = tmp_path / "Reactor.toml"
    config.write_text("", encoding="utf-8")
    first = load_settings(config, server={"data_dir": str(tmp_path)}).auth.jwt_secret
    second = load_settings(config, server={"data_dir": str(tmp_path)}).auth.jwt_secret
    assert first is not None
    assert second is not None
    assert first.get_secret_value() == second.get_secret_value()
    assert len(first.get_secret_value().encode()) >= 32


async def test_an_unknown_email_is_checked_against_a_hash_of_the_same_cost() -> None:
    passwords = Passwords(memory_kib=19_456, time_cost=2, parallelism=1)
    real = await passwords.hash("the password")
    assert await passwords.verify(None, "the password") is False
    dummy = passwords._dummy
    assert dummy is not None
    assert dummy.rsplit("$", 2)[0] == real.rsplit("$", 2)[0]  # same algorithm and parameters
    assert await passwords.verify(real, "the password") is True
    assert await passwords.verify(real, "another one") is False
