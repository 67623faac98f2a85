"""Configuration: pydantic-validated sections, errors naming file/section/option, includes."""

from __future__ import annotations

from pathlib import Path

import pytest

from moonlite.config import Config, ConfigError
from moonlite.server import Host
from moonlite.testing import running_host


def write(path: Path, text: str) -> Path:
    """Write `text` to `path` (making folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_unknown_option_is_refused_naming_file_section_option(tmp_path: Path) -> None:
    conf = write(tmp_path / "moonlite.conf", "[server]\nport: 7125\nprot: 1\n")
    with pytest.raises(ConfigError) as err:
        Host(Config.load(conf), tmp_path / "data")
    assert str(err.value) == f"{conf}: [server] option 'prot': unknown option"


def test_bad_value_names_option_and_problem(tmp_path: Path) -> None:
    conf = write(tmp_path / "moonlite.conf", "[server]\nport: seventy\n")
    with pytest.raises(ConfigError) as err:
        Host(Config.load(conf), tmp_path / "data")
    assert f"{conf}: [server] option 'port':" in str(err.value)
    assert "integer" in str(err.value)
    conf.write_text("[authorization]\ntrusted_clients: 10.0.0.0/8, not a host!\n")
    with pytest.raises(ConfigError) as err:
        Host(Config.load(conf), tmp_path / "data")
    assert "[authorization] option 'trusted_clients'" in str(err.value)


def test_include_glob_merges_sections_and_records_files(tmp_path: Path) -> None:
    main = write(tmp_path / "moonlite.conf",
                 "[server]\nport: 7125\n[include cams/*.conf]\n[include extra.conf]\n")
    front = write(tmp_path / "cams" / "front.conf", "[webcam front]\nstream_url: /a\n")
    back = write(tmp_path / "cams" / "back.conf", "[webcam back]\nstream_url: /b\n")
    extra = write(tmp_path / "extra.conf", "[server]\nmax_upload_size: 10\n")
    config = Config.load(main)
    assert list(config.sections) == ["server", "webcam back", "webcam front"]
    assert config.sections["server"].options == {"port": "7125", "max_upload_size": "10"}
    assert config.sections["server"].origins["max_upload_size"] == extra
    assert config.get("webcam front") is not None
    assert config.sections["webcam front"].file == front
    assert config.sections["webcam back"].file == back
    assert [s.instance for s in config.of_kind("webcam")] == ["back", "front"]


def test_include_problems(tmp_path: Path) -> None:
    main = write(tmp_path / "moonlite.conf", "[include missing.conf]\n")
    with pytest.raises(ConfigError) as err:
        Config.load(main)
    assert "no file matches 'missing.conf'" in str(err.value)
    # a glob that matches nothing is fine
    main.write_text("[include nothing/*.conf]\n")
    assert Config.load(main).sections == {}
    write(tmp_path / "a.conf", "[include b.conf]\n")
    write(tmp_path / "b.conf", "[include a.conf]\n")
    main.write_text("[include a.conf]\n")
    with pytest.raises(ConfigError) as err:
        Config.load(main)
    assert "include loop" in str(err.value)
    main.write_text("[server\nport: 1\n")
    with pytest.raises(ConfigError) as err:
        Config.load(main)
    assert str(main) in str(err.value)


async def test_unknown_section_fails_alone(tmp_path: Path) -> None:
    text = "[no_such_thing]\nx: 1\n[webcam front]\nstream_url: /s\n"
    async with running_host(tmp_path / "data", text) as running:
        host = running.host
        assert host.failed_components == ["no_such_thing"]
        assert any("[no_such_thing]: unknown config section" in w for w in host.warnings)
        assert "webcam" in host.components


async def test_server_config_reports_raw_and_parsed(tmp_path: Path) -> None:
    text = "[machine]\nproc_stats_interval: 2.5\n[webcam front]\nstream_url: /s\n"
    async with running_host(tmp_path / "data", text) as running:
        result = await running.host.server_api.config()
    assert result["orig"]["machine"] == {"proc_stats_interval": "2.5"}
    assert result["config"]["machine"]["proc_stats_interval"] == 2.5
    assert result["files"] == [{"filename": str(tmp_path / "data" / "moonlite.conf"),
                                "sections": ["machine", "webcam front"]}]
