"""In-tree PEP 517 / PEP 660 build backend for the one-module attnfit wrapper.

Why not setuptools: an offline ``pip install -e python/`` with setuptools needs the ``wheel``
package (setuptools < 70.1) or network access for build isolation; this backend needs nothing
but the standard library, so ``pip install --no-index -e python/`` works on a machine without
internet. It builds a wheel holding ``attnfit.py`` (or, editable, a ``.pth`` file naming this
folder).
"""

import base64
import hashlib
import os
import zipfile

NAME, VERSION = "attnfit", "0.1.0"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
METADATA = f"""Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: Fit single-layer softmax attention from numpy with the attnfit CLI
Requires-Python: >=3.8
Requires-Dist: numpy
"""
WHEEL = f"""Wheel-Version: 1.0
Generator: attnfit_build {VERSION}
Root-Is-Purelib: true
Tag: py3-none-any
"""


def _digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(directory, files):
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    files = dict(files)
    files[f"{DIST_INFO}/METADATA"] = METADATA.encode()
    files[f"{DIST_INFO}/WHEEL"] = WHEEL.encode()
    record = "".join(f"{p},{_digest(d)},{len(d)}\n" for p, d in files.items()) + f"{DIST_INFO}/RECORD,,\n"
    files[f"{DIST_INFO}/RECORD"] = record.encode()
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files.items():
            z.writestr(p, d)
    return name


def _module():
    with open(os.path.join(HERE, "attnfit.py"), "rb") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {"attnfit.py": _module()})


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth line adds this folder to sys.path: edits to attnfit.py take effect at once.
    return _wheel(wheel_directory, {"attnfit_editable.pth": (HERE + "\n").encode()})


def build_sdist(sdist_directory, config_settings=None):
    import tarfile
    import io
    base = f"{NAME}-{VERSION}"
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ("attnfit.py", "pyproject.toml", "README.md", "_build/attnfit_build.py"):
            t.add(os.path.join(HERE, rel), arcname=f"{base}/{rel}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name
