"""Build hook: ship the example logs of `fixtures/home` inside the wheel, so `--demo` works after
`pip install agtrace-mcp` / `uvx agtrace-mcp` and not only from a checkout. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DEMO = Path(__file__).resolve().parent / "fixtures" / "home"


class BuildPyWithDemo(build_py):
    def run(self) -> None:
        super().run()
        # an editable install reads fixtures/home from the checkout itself (agtrace_mcp.cli.demo_home)
        if DEMO.is_dir() and not getattr(self, "editable_mode", False):
            shutil.copytree(DEMO, Path(self.build_lib) / "agtrace_mcp" / "_demo" / "home", dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithDemo})
