"""Configuration: TOML, environment overrides, vault references, and loud failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from app.settings import ConfigError, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("REACTOR_"):
            monkeypatch.delenv(key)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Reactor.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.usefixtures("clean_env")
def test_toml_values_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, f'[server]\ndata_dir = "{tmp_path}"\n[chat]\nhistory_limit = 7\n')
    assert load_settings(path).chat.history_limit == 7


@pytest.mark.usefixtures("clean_env")
def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, f'[server]\ndata_dir = "{tmp_path}"\n[chat]\nhistory_limit = 7\n')
    monkeypatch.setenv("REACTOR_CHAT__HISTORY_LIMIT", "9")
    monkeypatch.setenv("REACTOR_AI__OPENROUTER_API_KEY", "sk-from-env")
    settings = load_settings(path)
    assert settings.chat.history_limit == 9
    assert settings.ai.openrouter_api_key is not None
    assert settings.ai.openrouter_api_key.get_secret_value() == "sk-from-env"
    assert "sk-from-env" not in repr(settings)


@pytest.mark.usefixtures("clean_env")
def test_vault_directory_references_are_resolved(tmp_path: Path) -> None:
    (tmp_path / "vault" / "ai").mkdir(parents=True)
    (tmp_path / "vault" / "ai" / "openrouter_key").write_text("sk-from-vault\n")
    path = write(
        tmp_path,
        f'[server]\ndata_dir = "{tmp_path}"\n[vault]\ndir = "{tmp_path / "vault"}"\n'
        '[ai]\nopenrouter_api_key = "vault:ai/openrouter_key"\n',
    )
    key = load_settings(path).ai.openrouter_api_key
    assert key is not None
    assert key.get_secret_value() == "sk-from-vault"


@pytest.mark.usefixtures("clean_env")
def test_an_unresolvable_reference_names_its_key(tmp_path: Path) -> None:
    path = write(
        tmp_path, f'[vault]\ndir = "{tmp_path}"\n[auth]\njwt_secret = "vault:auth/missing"\n'
    )
    with pytest.raises(ConfigError, match=r"^auth\.jwt_secret: cannot resolve vault:auth/missing"):
        load_settings(path)


@pytest.mark.usefixtures("clean_env")
def test_a_short_jwt_secret_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[auth]\njwt_secret = "short"\n')
    with pytest.raises(ConfigError, match=r"auth: jwt_secret must be at least 32 bytes"):
        load_settings(path)


@pytest.mark.usefixtures("clean_env")
def test_an_invalid_value_names_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[chat]\nhistory_limit = "lots"\n')
    with pytest.raises(ConfigError, match=r"chat\.history_limit"):
        load_settings(path)


@pytest.mark.usefixtures("clean_env")
def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[chat]\nhistroy_limit = 3\n")
    with pytest.raises(ConfigError, match=r"chat\.histroy_limit"):
        load_settings(path)


@pytest.mark.usefixtures("clean_env")
def test_a_missing_jwt_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    path = write(tmp_path, f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    first = load_settings(path).auth.jwt_secret
    second = load_settings(path).auth.jwt_secret
    assert first is not None
    assert second is not None
    assert first.get_secret_value() == second.get_secret_value()
    assert len(first.get_secret_value()) >= 32
    assert (tmp_path / "data" / "jwt_secret").stat().st_mode & 0o077 == 0


class _FakeVault(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("X-Vault-Token") != "root-token":
            self.send_response(403)
            self.end_headers()
            return
        if self.path == "/v1/kv/data/ai":
            body = json.dumps(
                {"data": {"data": {"openrouter_key": "sk-from-hashicorp"}, "metadata": {}}}
            )
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())
            return
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_vault() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeVault)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("clean_env")
def test_hashicorp_vault_kv2_references_are_resolved(tmp_path: Path, fake_vault: str) -> None:
    path = write(
        tmp_path,
        f'[server]\ndata_dir = "{tmp_path}"\n'
        f'[vault]\naddr = "{fake_vault}"\ntoken = "root-token"\nmount = "kv"\n'
        '[ai]\nopenrouter_api_key = "vault:ai/openrouter_key"\n',
    )
    key = load_settings(path).ai.openrouter_api_key
    assert key is not None
    assert key.get_secret_value() == "sk-from-hashicorp"


@pytest.mark.usefixtures("clean_env")
def test_hashicorp_vault_refusal_names_the_key(tmp_path: Path, fake_vault: str) -> None:
    path = write(
        tmp_path,
        f'[vault]\naddr = "{fake_vault}"\ntoken = "wrong"\nmount = "kv"\n[ai]\nopenrouter_api_key = "vault:ai/openrouter_key"\n',
    )
    with pytest.raises(ConfigError, match=r"ai\.openrouter_api_key: .*Vault answered 403"):
        load_settings(path)


def test_the_cli_reports_bad_configuration_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[auth]\njwt_secret = "vault:auth/missing"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
    env["REACTOR_CONFIG"] = str(path)
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("reactor-chat: configuration error: auth.jwt_secret")
    assert "Traceback" not in result.stderr
