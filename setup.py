"""Build steps pyproject cannot express: protobuf generation and the Cython extensions.

Both run on every build (`pip install .`, `pip install -e .`, `setup.py build_ext --inplace`):
the generated API lands in shared/v1/ (imported as `neatai.v1`, never committed) and every
`.pyx` under shared/ and services/ becomes an extension of the package it sits in.
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIRS = {
    "shared": "neatai",
    "services/evaluator": "neatai.evaluator",
    "services/evolver": "neatai.evolver",
    "services/discovery": "neatai.discovery",
}


def generate_protos() -> None:
    """protos/neatai/v1/*.proto -> shared/v1/*_pb2.py, *_pb2_grpc.py, *.pyi (as neatai.v1)."""
    from grpc_tools import protoc

    protos = sorted(glob.glob(os.path.join(ROOT, "protos", "neatai", "v1", "*.proto")))
    target = os.path.join(ROOT, "shared", "v1")
    newest = max(os.path.getmtime(p) for p in protos)
    generated = glob.glob(os.path.join(target, "*_pb2.py"))
    if len(generated) == len(protos) and min(os.path.getmtime(g) for g in generated) >= newest:
        return
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    with tempfile.TemporaryDirectory() as out:
        args = ["protoc", f"-I{os.path.join(ROOT, 'protos')}", f"-I{include}",
                f"--python_out={out}", f"--grpc_python_out={out}", f"--pyi_out={out}", *protos]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed on protos/neatai/v1")
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(os.path.join(out, "neatai", "v1")):
            shutil.copy(os.path.join(out, "neatai", "v1", name), os.path.join(target, name))
    with open(os.path.join(target, "__init__.py"), "w") as f:
        f.write('"""Generated from protos/neatai/v1 at build time; do not edit."""\n')


def pxd_tree() -> str:
    """build/pxd/neatai/...: the .pxd files under their import names, so that modules cimport
    each other as `neatai.evaluator.compiled` although the folders are named shared/, services/."""
    tree = os.path.join(ROOT, "build", "pxd")
    for folder, package in PACKAGE_DIRS.items():
        target = os.path.join(tree, *package.split("."))
        os.makedirs(target, exist_ok=True)
        open(os.path.join(target, "__init__.pxd"), "a").close()
        for pxd in glob.glob(os.path.join(ROOT, folder, "*.pxd")):
            link = os.path.join(target, os.path.basename(pxd))
            relative = os.path.relpath(pxd, target)
            if os.path.lexists(link) and os.readlink(link) != relative:
                os.remove(link)
            if not os.path.lexists(link):
                os.symlink(relative, link)
    return tree


def extensions() -> list[Extension]:
    exts = []
    for folder, package in PACKAGE_DIRS.items():
        for pyx in sorted(glob.glob(os.path.join(folder, "*.pyx"))):
            name = f"{package}.{os.path.splitext(os.path.basename(pyx))[0]}"
            exts.append(Extension(
                name, [pyx],
                # services/evaluator: squash_math.h, shared by the modules that evaluate squashes
                include_dirs=[numpy.get_include(), os.path.join(ROOT, "services", "evaluator")],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno"],
            ))
    return cythonize(exts, language_level=3, include_path=[pxd_tree()], compiler_directives={
        "boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False,
    })


generate_protos()
setup(ext_modules=extensions())
