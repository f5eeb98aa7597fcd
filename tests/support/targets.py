"""Which database the shared test helpers open (``running_bot``, ``feed_env``, ``digest_env``).

By default a SQLite file under the test's ``tmp_path``. A test module that runs on both
backends says ``pytestmark = pytest.mark.usefixtures("on_each_backend")``: the fixture (in
``tests/conftest.py``) parametrises its tests over ``db_target`` and points the helpers at it.
"""

from __future__ import annotations

from pathlib import Path

_chosen: str | None = None


def choose(target: str | None) -> None:
    global _chosen
    _chosen = target


def target(tmp_path: Path, name: str) -> str:
    """The database the helper should open: the chosen backend's, else ``tmp_path / name``."""
    return _chosen if _chosen is not None else str(tmp_path / name)
