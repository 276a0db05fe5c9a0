"""Map each providers/cloudlb_* folder to a top-level import package (``import cloudlb_aws``).

pyproject.toml cannot glob, so discovery lives here; everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

core = find_packages(include=["cloudlb", "cloudlb.*"])
plugins = find_packages("providers", include=["cloudlb_*"])
package_dir = {name: f"providers/{name.replace('.', '/')}" for name in plugins}

setup(packages=core + plugins, package_dir=package_dir)
