"""Build hook: ship the repository's ``configs/`` inside the package as ``detreg/configs``.

Everything else is declared in ``setup.cfg``. A wheel gets a copy of every YAML under
``configs/`` (the ``_base_`` folder included), found at run time through
``importlib.resources``; an editable install reads ``configs/`` in place (see
``detreg/builtin_configs.py``), so nothing is copied for it.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONFIGS = Path(__file__).resolve().parent / "configs"


class BuildPyWithConfigs(build_py):
    """``build_py`` that also copies ``configs/**/*.yaml`` to ``detreg/configs/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "detreg" / "configs"
        for src in sorted(CONFIGS.rglob("*.yaml")):
            dst = target / src.relative_to(CONFIGS)
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst))


setup(cmdclass={"build_py": BuildPyWithConfigs})
