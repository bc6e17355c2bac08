"""Only what pyproject.toml cannot say: the repository's sql/ ships inside the
package, as kmcbot/migrations, so an installed wheel finds its migrations."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["kmcbot*"]), "kmcbot.migrations"],
    package_dir={"kmcbot.migrations": "sql"},
)
