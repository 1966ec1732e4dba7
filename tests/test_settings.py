import pytest
from typer.testing import CliRunner

from agentkit.errors import SettingsError
from agentkit.settings import Settings


def test_presets_differ_and_unknown_preset_errors():
    fast, default, quality = (Settings.from_preset(n) for n in ("fast", "default", "quality"))
    assert fast.generator == "qwen2.5-0.5b" and default.generator == "qwen2.5-1.5b"
    assert quality.reranker == "llm"
    with pytest.raises(SettingsError, match="unknown preset"):
        Settings.from_preset("turbo")


def test_env_beats_preset_and_kwargs_beat_env(monkeypatch):
    monkeypatch.setenv("AGENTKIT_TOP_K", "7")
    monkeypatch.setenv("AGENTKIT_GENERATOR", "/models/x.gguf")
    s = Settings.from_preset("fast")
    assert s.top_k == 7 and s.generator == "/models/x.gguf"
    assert Settings.from_preset("fast", top_k=3).top_k == 3


def test_settings_file_toml_and_json(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('preset = "fast"\nevidence_k = 2\n')
    s = Settings.load(toml)
    assert s.preset == "fast" and s.evidence_k == 2 and s.generator == "qwen2.5-0.5b"
    js = tmp_path / "s.json"
    js.write_text('{"top_k": 4}')
    assert Settings.load(js).top_k == 4
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(SettingsError, match="not valid"):
        Settings.load(bad)
    with pytest.raises(SettingsError, match="'no_such_field': Extra inputs are not permitted"):
        Settings.load(js, no_such_field=1)


def test_a_bad_value_is_a_settings_error_that_names_its_environment_variable(monkeypatch):
    monkeypatch.setenv("AGENTKIT_MAX_QUESTION_CHARS", "lots")
    with pytest.raises(SettingsError, match="'max_question_chars' .from the environment variable "
                                            "AGENTKIT_MAX_QUESTION_CHARS.*got 'lots'"):
        Settings.from_preset("default")
    with pytest.raises(ValueError):  # code that caught pydantic's ValueError still catches it
        Settings.from_preset("default")


def test_the_command_line_reports_a_bad_setting_in_one_line_not_a_traceback(tmp_path):
    from agentkit.cli import app

    result = CliRunner().invoke(app, ["ask", "What is the dose?", "--index", str(tmp_path), "--strategy", "reactive"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "invalid settings: setting 'strategy'" in " ".join(result.output.split())
