"""The npm and supervisord state fallbacks load only where Salt has no such state."""

import importlib.util

import pytest

from _states import haproxy_maint_npm, haproxy_maint_supervisord

SHIMS = {"npm": haproxy_maint_npm, "supervisord": haproxy_maint_supervisord}


@pytest.mark.parametrize("name", sorted(SHIMS))
def test_fallback_stays_unloaded_where_salt_ships_the_state(name, monkeypatch):
    shim = SHIMS[name]
    real_find_spec = importlib.util.find_spec

    def salt_has_it(module, *args):
        return object() if module == f"salt.states.{name}" else real_find_spec(module, *args)

    monkeypatch.setattr(shim.importlib.util, "find_spec", salt_has_it)
    monkeypatch.setattr(
        shim, "__salt__", {f"{name}.list": None, f"{name}.status": None}, raising=False
    )
    loaded = shim.__virtual__()
    assert isinstance(loaded, tuple) and loaded[0] is False
    assert "ships its own" in loaded[1]


@pytest.mark.parametrize("name", sorted(SHIMS))
def test_fallback_loads_under_the_core_name_where_salt_has_none(name, monkeypatch):
    shim = SHIMS[name]
    monkeypatch.setattr(shim.importlib.util, "find_spec", lambda module, *args: None)
    monkeypatch.setattr(
        shim, "__salt__", {f"{name}.list": None, f"{name}.status": None}, raising=False
    )
    assert shim.__virtual__() == name


def test_salt_under_test_ships_neither_state():
    # The fallbacks exist because of this; if Salt brings them back, they stay unloaded.
    assert importlib.util.find_spec("salt.states.npm") is None
    assert importlib.util.find_spec("salt.states.supervisord") is None
