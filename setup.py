"""Package layout: `moonlite` plus `components/` installed as `moonlite.components`."""

from setuptools import find_packages, setup

host_packages = ["moonlite", *(f"moonlite.{p}" for p in find_packages("moonlite"))]
component_packages = [
    "moonlite.components",
    *(f"moonlite.components.{p}" for p in find_packages("components")),
]

setup(
    packages=host_packages + component_packages,
    package_dir={"moonlite": "moonlite", "moonlite.components": "components"},
)
