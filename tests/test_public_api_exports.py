"""The package's lazy exports: ``__all__`` is a literal list (linters read it), ``_EXPORTS`` maps each name
to its module; the two must name the same things, and each must import."""

import agentkit


def test_every_public_name_is_exported_and_imports():
    assert sorted(agentkit.__all__) == sorted(agentkit._EXPORTS)
    for name in agentkit.__all__:
        assert getattr(agentkit, name).__name__ == name
